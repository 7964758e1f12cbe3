// Issue 18 through a real `factstr serve`: the head in a query's snapshot, reads up to a position, conflicts
// that say what changed, and idempotent appends (docs/contract.md, C9).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  AppendOutcomeUnknown,
  ConditionalAppendConflict,
  type EventQuery,
  FactstrClient,
  InvalidInput,
} from "@factstr/client";
import { TestServer, unique } from "./server.js";

let server: TestServer;
let client: FactstrClient;

before(async () => {
  server = await TestServer.start();
  client = new FactstrClient({ baseUrl: server.url, timeoutMs: 10_000 });
});
after(async () => {
  await server.close();
});

function ofType(type: string, more: Partial<EventQuery> = {}): EventQuery {
  return { filters: [{ event_types: [type] }], ...more };
}

describe("the head in a query's snapshot (C9.1)", () => {
  test("a query result carries the log's head as a bigint, whatever matched", async () => {
    const type = unique("headed");
    const committed = await client.append([{ event_type: type, payload: 1 }]);
    const result = await client.query(ofType(unique("nothing")));
    assert.equal(typeof result.head, "bigint");
    assert.ok(result.head! >= committed.last_sequence_number);
    assert.equal(result.current_context_version, null);
  });
});

describe("reads up to a position (C9.2)", () => {
  test("max_sequence_number bounds records and the context version inclusively", async () => {
    const type = unique("bounded");
    const first = await client.append([{ event_type: type, payload: 1 }]);
    await client.append([{ event_type: unique("other"), payload: 2 }]);
    const third = await client.append([{ event_type: type, payload: 3 }]);
    const asOf = await client.query(ofType(type, { max_sequence_number: third.first_sequence_number - 1n }));
    assert.deepEqual(
      asOf.event_records.map((r) => r.sequence_number),
      [first.first_sequence_number],
    );
    assert.equal(asOf.current_context_version, first.first_sequence_number);
    assert.ok(asOf.head! >= third.first_sequence_number);
    const newestFirst = await client.query(
      ofType(type, { backwards: true, limit: 1, max_sequence_number: Number(third.first_sequence_number) }),
    );
    assert.deepEqual(
      newestFirst.event_records.map((r) => r.sequence_number),
      [third.first_sequence_number],
    );
  });

  test("appendIf and streams refuse a bounded query with InvalidInput", async () => {
    const type = unique("refused");
    await assert.rejects(
      client.appendIf([{ event_type: type, payload: 1 }], ofType(type, { max_sequence_number: 1n }), null),
      InvalidInput,
    );
    await assert.rejects(client.streamTo(ofType(type, { max_sequence_number: 1n }), () => {}), InvalidInput);
    assert.deepEqual((await client.query(ofType(type))).event_records, []);
  });
});

describe("conflicts that say what changed (C9.3)", () => {
  test("a conflict carries the context's facts after the expected version, oldest first", async () => {
    const type = unique("moved");
    const first = await client.append([{ event_type: type, payload: { n: 1 } }]);
    await client.append([
      { event_type: type, payload: { n: 2 } },
      { event_type: type, payload: { n: 3 } },
    ]);
    const error = await client
      .appendIf([{ event_type: type, payload: { n: 4 } }], ofType(type), first.last_sequence_number)
      .then(
        () => assert.fail("appendIf committed on a stale version"),
        (caught: unknown) => caught,
      );
    assert.ok(error instanceof ConditionalAppendConflict);
    assert.equal(error.expected, first.last_sequence_number);
    assert.equal(error.actual, first.last_sequence_number + 2n);
    assert.equal(error.truncated, false);
    assert.deepEqual(
      error.facts.map((fact) => [fact.sequence_number, fact.payload]),
      [
        [first.last_sequence_number + 1n, { n: 2 }],
        [first.last_sequence_number + 2n, { n: 3 }],
      ],
    );
    const { event_records } = await client.query(ofType(type, { min_sequence_number: first.last_sequence_number }));
    assert.deepEqual(error.facts, event_records);
  });
});

/** A fetch that lets the server answer, reads the answer, then fails as a lost connection (`count` times). */
function losingAnswers(count: number): { fetch: typeof globalThis.fetch; sent: () => number } {
  let sent = 0;
  let toLose = count;
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const response = await globalThis.fetch(input, init);
    sent += 1;
    if (toLose > 0) {
      toLose -= 1;
      await response.text(); // the server committed and answered; the answer is lost on the way
      throw new TypeError("fetch failed", { cause: Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }) });
    }
    return response;
  };
  return { fetch, sent: () => sent };
}

describe("idempotent appends (C9.4)", () => {
  test("a known key returns the original result and writes nothing, also when the condition would conflict", async () => {
    const type = unique("paid");
    const key = unique("order");
    const first = await client.append([{ event_type: type, payload: 1 }], { idempotencyKey: key });
    const again = await client.appendIf([{ event_type: type, payload: 1 }], ofType(type), null, { idempotencyKey: key });
    assert.deepEqual(again, first);
    assert.equal((await client.query(ofType(type))).event_records.length, 1);
  });

  test("the same key with other events, or a key that breaks the rule, is InvalidInput", async () => {
    const type = unique("paid");
    const key = unique("order");
    await client.append([{ event_type: type, payload: 1 }], { idempotencyKey: key });
    await assert.rejects(client.append([{ event_type: type, payload: 2 }], { idempotencyKey: key }), InvalidInput);
    await assert.rejects(client.append([{ event_type: type, payload: 2 }], { idempotencyKey: "two words" }), InvalidInput);
    await assert.rejects(client.append([{ event_type: type, payload: 2 }], { idempotencyKey: "" }), InvalidInput);
    assert.equal((await client.query(ofType(type))).event_records.length, 1);
  });

  test("an append with a key whose answer was lost is sent again and committed once", async () => {
    const lossy = losingAnswers(2);
    const retrying = new FactstrClient({ baseUrl: server.url, timeoutMs: 10_000, fetch: lossy.fetch });
    const type = unique("retried");
    const result = await retrying.append([{ event_type: type, payload: 1 }], { idempotencyKey: unique("order") });
    assert.equal(lossy.sent(), 3);
    const { event_records } = await client.query(ofType(type));
    assert.deepEqual(
      event_records.map((r) => r.sequence_number),
      [result.first_sequence_number],
    );
  });

  test("an append without a key is never sent twice", async () => {
    const lossy = losingAnswers(1);
    const once = new FactstrClient({ baseUrl: server.url, timeoutMs: 10_000, fetch: lossy.fetch });
    const type = unique("unkeyed");
    await assert.rejects(once.append([{ event_type: type, payload: 1 }]), AppendOutcomeUnknown);
    assert.equal(lossy.sent(), 1);
    assert.equal((await client.query(ofType(type))).event_records.length, 1);
  });
});
