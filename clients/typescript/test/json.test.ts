// The lossless JSON reader and writer (src/json.ts), on their own.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { JsonError, parseJson, stringifyJson } from "../src/json.js";

const options = { bigintKeys: new Set(["sequence_number", "head"]), opaqueKeys: new Set(["payload"]) };

describe("parseJson", () => {
  test("keeps integers of sequence-number members exact beyond 2^53", () => {
    const parsed = parseJson('{"sequence_number": 9007199254740993, "head": null, "other": 9007199254740993}', options);
    assert.deepEqual(parsed, { sequence_number: 9007199254740993n, head: null, other: 9007199254740992 });
  });

  test("reads bigint members at any depth outside payloads", () => {
    const parsed = parseJson('[{"sequence_number":1,"payload":{"sequence_number":2,"a":[1,{"head":3}]}}]', options);
    assert.deepEqual(parsed, [{ sequence_number: 1n, payload: { sequence_number: 2, a: [1, { head: 3 }] } }]);
  });

  test("parses payloads exactly as JSON.parse does", () => {
    const payloads = ['"a\\"b\\\\"', "1.5e3", "-0", "true", "null", '{"x":[1,"]}",{"y":"\\u00e9"}]}', "[]", "{}"];
    for (const payload of payloads) {
      const parsed = parseJson(`{"payload": ${payload} , "sequence_number": 5}`, options);
      assert.deepEqual(parsed, { payload: JSON.parse(payload) as unknown, sequence_number: 5n });
    }
  });

  test("decodes escapes and keeps __proto__ as data", () => {
    const parsed = parseJson('{"s":"\\n\\u2603","__proto__":{"x":1}}', options);
    assert.equal((parsed as { s: string }).s, "\n\u2603");
    assert.deepEqual(Object.keys(parsed as object), ["s", "__proto__"]);
  });

  test("refuses malformed text", () => {
    for (const text of ["", "{", '{"a":}', "[1,]", '{"a":1}x', "tru", '"unterminated', '"a\u0001"']) {
      assert.throws(() => parseJson(text, options), JsonError, text);
    }
  });
});

describe("stringifyJson", () => {
  test("writes bigint as a JSON integer", () => {
    const text = stringifyJson({ position: 9007199254740993n, list: [1n, "x"] });
    assert.equal(text, '{"position":9007199254740993,"list":[1,"x"]}');
  });

  test("refuses a bigint inside the opaque members (user data), keeps it elsewhere", () => {
    const opaque = new Set(["payload"]);
    assert.equal(stringifyJson({ position: 3n, payload: { n: 3 } }, opaque), '{"position":3,"payload":{"n":3}}');
    for (const payload of [5n, { x: 5n }, [1, [2n]]]) {
      assert.throws(() => stringifyJson({ payload } as never, opaque), /payload.* is a bigint/);
    }
  });

    test("leaves out undefined members, like JSON.stringify", () => {
    assert.equal(stringifyJson({ a: undefined, b: null }), '{"b":null}');
  });

  test("refuses what JSON cannot represent instead of coercing it", () => {
    const cycle: { [key: string]: never } = {};
    Reflect.set(cycle, "self", cycle);
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, [undefined], cycle, new Date(0), new Map()]) {
      assert.throws(() => stringifyJson(value as never), JsonError);
    }
  });
});
