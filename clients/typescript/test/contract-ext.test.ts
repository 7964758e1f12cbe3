// Issue 18 through a real `factstr serve`: the head in a query's snapshot, reads up to a position, conflicts
// that say what changed, and idempotent appends (docs/contract.md, C9).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { ConditionalAppendConflict, type EventQuery, FactstrClient, InvalidInput } from "@factstr/client";
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
