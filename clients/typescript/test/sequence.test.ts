// The sequence-number helpers (src/sequence.ts): bigint to and from JSON, the next number.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  bigintReplacer,
  InvalidInput,
  MAX_SEQUENCE_NUMBER,
  nextSequenceNumber,
  sequenceNumberFromJson,
  sequenceNumberToJson,
} from "@factstr/client";

describe("sequence-number helpers", () => {
  test("nextSequenceNumber counts on from a bigint, a safe number, or nothing yet", () => {
    assert.equal(nextSequenceNumber(41n), 42n);
    assert.equal(nextSequenceNumber(41), 42n);
    assert.equal(nextSequenceNumber(null), 1n);
    assert.equal(nextSequenceNumber(undefined), 1n);
    assert.equal(nextSequenceNumber(9007199254740993n), 9007199254740994n);
    assert.throws(() => nextSequenceNumber(1.5), InvalidInput);
    assert.throws(() => nextSequenceNumber(-1n), InvalidInput);
  });

  test("to JSON and back is exact beyond 2^53", () => {
    const big = 9007199254740993n;
    const text = JSON.stringify({ position: sequenceNumberToJson(big), none: sequenceNumberToJson(null) });
    assert.equal(text, '{"position":"9007199254740993","none":null}');
    const parsed = JSON.parse(text) as { position: string; none: null };
    assert.equal(sequenceNumberFromJson(parsed.position), big);
    assert.equal(sequenceNumberFromJson(parsed.none), null);
    assert.equal(sequenceNumberFromJson(12), 12n);
    assert.equal(sequenceNumberFromJson(12n), 12n);
    assert.equal(sequenceNumberFromJson(MAX_SEQUENCE_NUMBER.toString()), 2n ** 63n - 1n);
  });

  test("sequenceNumberFromJson refuses what is not a sequence number", () => {
    for (const value of ["", "-1", "1.0", "1e3", " 1", "0x10", "9223372036854775808", 1.5, -3, Number.NaN, 2 ** 60, {}, true]) {
      assert.throws(() => sequenceNumberFromJson(value), InvalidInput, String(value));
    }
  });

  test("bigintReplacer lets JSON.stringify write anything the client returned", () => {
    const record = { sequence_number: 7n, occurred_at: "2026-01-01T00:00:00.000000Z", payload: { n: 1 } };
    assert.throws(() => JSON.stringify(record), TypeError);
    assert.equal(
      JSON.stringify(record, bigintReplacer),
      '{"sequence_number":"7","occurred_at":"2026-01-01T00:00:00.000000Z","payload":{"n":1}}',
    );
  });
});
