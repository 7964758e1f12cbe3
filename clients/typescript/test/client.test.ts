// Appends, queries and errors against a real `factstr serve` (docs/contract.md, C3, C4, C5, C7, C8).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  AppendOutcomeUnknown,
  BackendError,
  ConditionalAppendConflict,
  EmptyAppend,
  type EventQuery,
  FactstrClient,
  FactstrError,
  InvalidInput,
  RequestTimeout,
} from "@factstr/client";
import { freePort, TestServer, unique } from "./server.js";

let server: TestServer;
let client: FactstrClient;

before(async () => {
  server = await TestServer.start();
  client = new FactstrClient({ baseUrl: server.url, timeoutMs: 10_000 });
});
after(async () => {
  await server.close();
});

function ofType(type: string): EventQuery {
  return { filters: [{ event_types: [type] }] };
}

describe("append", () => {
  test("commits a batch as one consecutive range of bigint sequence numbers", async () => {
    const type = unique("opened");
    const result = await client.append([
      { event_type: type, payload: { n: 1 } },
      { event_type: type, payload: { n: 2 } },
      { event_type: type, payload: { n: 3 } },
    ]);
    assert.equal(typeof result.first_sequence_number, "bigint");
    assert.equal(result.committed_count, 3);
    assert.equal(result.last_sequence_number, result.first_sequence_number + 2n);
    const next = await client.append([{ event_type: type, payload: null }]);
    assert.equal(next.first_sequence_number, result.last_sequence_number + 1n);
  });

  test("stamps one occurred_at per batch as the server's ISO text with microseconds", async () => {
    const type = unique("stamped");
    await client.append([
      { event_type: type, payload: 1 },
      { event_type: type, payload: 2 },
    ]);
    const { event_records } = await client.query(ofType(type));
    const [first, second] = event_records;
    assert.match(first!.occurred_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.equal(first!.occurred_at, second!.occurred_at);
  });

  test("an empty append throws EmptyAppend", async () => {
    await assert.rejects(client.append([]), EmptyAppend);
    await assert.rejects(client.appendIf([], {}, null), EmptyAppend);
  });

  test("invalid input throws InvalidInput and commits nothing", async () => {
    const head = await client.head();
    await assert.rejects(client.append([{ event_type: "", payload: 1 }]), InvalidInput);
    await assert.rejects(client.append([{ event_type: "nul\u0000", payload: 1 }]), InvalidInput);
    await assert.rejects(client.append([{ event_type: "x", payload: Number.NaN }]), InvalidInput);
    const cycle: { [key: string]: unknown } = {};
    cycle["self"] = cycle;
    await assert.rejects(client.append([{ event_type: "x", payload: cycle as never }]), InvalidInput);
    await assert.rejects(client.query({ min_sequence_number: -1 }), InvalidInput);
    await assert.rejects(client.query({ limit: 1.5 }), InvalidInput);
    // Unknown fields are refused, not dropped: a typo must not silently widen a query.
    await assert.rejects(client.query({ min_sequence: 3 } as EventQuery), InvalidInput);
    assert.equal(await client.head(), head);
  });

  test("a bigint inside a payload or predicate is refused with InvalidInput before anything is sent", async () => {
    const head = await client.head();
    const bigints = [{ x: 5n }, [1, 2n], { deep: { list: [{ n: 9007199254740993n }] } }, 7n];
    for (const payload of bigints) {
      await assert.rejects(client.append([{ event_type: "x", payload: payload as never }]), InvalidInput);
      const context = { filters: [{ payload_predicates: [payload as never] }] };
      await assert.rejects(client.query(context), InvalidInput);
      await assert.rejects(client.appendIf([{ event_type: "x", payload: 1 }], context, null), InvalidInput);
    }
    assert.equal(await client.head(), head);
    // Sequence numbers stay bigint wherever the client takes one.
    const all = await client.query({ min_sequence_number: 0n, limit: 1n as never });
    assert.equal(typeof all.current_context_version, head === null ? "object" : "bigint");
  });

    test("errors carry the server's stable code and status", async () => {
    const error = await client.append([{ event_type: "", payload: 1 }]).catch((caught: unknown) => caught);
    assert.ok(error instanceof InvalidInput && error instanceof FactstrError);
    assert.equal(error.code, "invalid_input");
    assert.equal(error.status, 422);
  });
});

describe("query", () => {
  test("returns matching events in ascending order with both result numbers", async () => {
    const type = unique("q");
    const other = unique("other");
    const a = await client.append([{ event_type: type, payload: { i: 0 } }]);
    await client.append([{ event_type: other, payload: { i: 1 } }]);
    const c = await client.append([{ event_type: type, payload: { i: 2 } }]);
    const all = await client.query(ofType(type));
    assert.deepEqual(
      all.event_records.map((record) => record.sequence_number),
      [a.last_sequence_number, c.last_sequence_number],
    );
    assert.equal(all.last_returned_sequence_number, c.last_sequence_number);
    assert.equal(all.current_context_version, c.last_sequence_number);

    // min_sequence_number is exclusive and does not change current_context_version.
    const after = await client.query({ ...ofType(type), min_sequence_number: c.last_sequence_number });
    assert.deepEqual(after.event_records, []);
    assert.equal(after.last_returned_sequence_number, null);
    assert.equal(after.current_context_version, c.last_sequence_number);
  });

  test("nothing matching gives null for both numbers", async () => {
    const { head, ...result } = await client.query(ofType(unique("nothing")));
    assert.deepEqual(result, { event_records: [], last_returned_sequence_number: null, current_context_version: null });
    assert.equal(typeof head, "bigint");
  });

  test("limit and backwards keep current_context_version; last returned follows the returned order", async () => {
    const type = unique("page");
    const { first_sequence_number: first } = await client.append(
      [1, 2, 3, 4, 5].map((n) => ({ event_type: type, payload: { n } })),
    );
    const numbers = (result: { event_records: readonly { sequence_number: bigint }[] }): bigint[] =>
      result.event_records.map((record) => record.sequence_number);

    const page = await client.query({ ...ofType(type), limit: 2 });
    assert.deepEqual(numbers(page), [first, first + 1n]);
    assert.equal(page.last_returned_sequence_number, first + 1n);
    assert.equal(page.current_context_version, first + 4n);

    const newest = await client.query({ ...ofType(type), limit: 2, backwards: true });
    assert.deepEqual(numbers(newest), [first + 4n, first + 3n]);
    assert.equal(newest.last_returned_sequence_number, first + 3n);
    assert.equal(newest.current_context_version, first + 4n);
  });

  test("payload predicates match by subset, and payloads stay ordinary JSON", async () => {
    const type = unique("pred");
    await client.append([
      { event_type: type, payload: { room: "a", sequence_number: 7, tags: ["x", "y"], big: 2 ** 53 + 2 } },
      { event_type: type, payload: { room: "b" } },
    ]);
    const result = await client.query({
      filters: [{ event_types: [type], payload_predicates: [{ tags: ["y"] }] }],
    });
    assert.equal(result.event_records.length, 1);
    // A payload member named like a sequence number is user data: a number, not a bigint.
    assert.deepEqual(result.event_records[0]!.payload, {
      room: "a",
      sequence_number: 7,
      tags: ["x", "y"],
      big: 2 ** 53 + 2,
    });
  });

  test("head is the highest committed number", async () => {
    const result = await client.append([{ event_type: unique("h"), payload: {} }]);
    assert.equal(await client.head(), result.last_sequence_number);
  });
});

describe("appendIf", () => {
  test("commits when the context version is as expected, conflicts with expected and actual otherwise", async () => {
    const account = unique("acct");
    const context: EventQuery = { filters: [{ payload_predicates: [{ account }] }] };
    const opened = await client.appendIf([{ event_type: "opened", payload: { account } }], context, null);
    const version = (await client.query(context)).current_context_version;
    assert.equal(version, opened.last_sequence_number);

    await client.append([{ event_type: "deposited", payload: { account, amount: 5 } }]);
    const conflict = await client
      .appendIf([{ event_type: "deposited", payload: { account, amount: 7 } }], context, version)
      .catch((caught: unknown) => caught);
    assert.ok(conflict instanceof ConditionalAppendConflict);
    assert.equal(conflict.code, "conditional_append_conflict");
    assert.equal(conflict.status, 409);
    assert.equal(conflict.expected, version);
    assert.equal(conflict.actual, version! + 1n);
  });

  test("a conflicting appendIf consumes no sequence number", async () => {
    const context = ofType(unique("ctx"));
    await client.append([{ event_type: context.filters![0]!.event_types![0]!, payload: 1 }]);
    const head = await client.head();
    await assert.rejects(client.appendIf([{ event_type: "x", payload: 1 }], context, null), ConditionalAppendConflict);
    const next = await client.append([{ event_type: "x", payload: 1 }]);
    assert.equal(next.first_sequence_number, head! + 1n);
  });

  test("expected version null conflicts once a matching event exists, and accepts number input", async () => {
    const context = ofType(unique("once"));
    const type = context.filters![0]!.event_types![0]!;
    const first = await client.appendIf([{ event_type: type, payload: 1 }], context, null);
    await assert.rejects(client.appendIf([{ event_type: type, payload: 2 }], context, null), ConditionalAppendConflict);
    await client.appendIf([{ event_type: type, payload: 2 }], context, Number(first.last_sequence_number));
  });
});

describe("timeouts and cancellation", () => {
  const hanging = (_input: string | URL, init?: RequestInit): Promise<Response> =>
    new Promise((_resolve, reject) => {
      init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
    });

  test("a call without an answer within timeoutMs throws RequestTimeout", async () => {
    const slow = new FactstrClient({ baseUrl: server.url, timeoutMs: 50, fetch: hanging });
    await assert.rejects(slow.head(), RequestTimeout);
    await assert.rejects(slow.query({}, { timeoutMs: 20 }), RequestTimeout);
  });

  test("an append that times out has an unknown outcome", async () => {
    const slow = new FactstrClient({ baseUrl: server.url, timeoutMs: 50, fetch: hanging });
    await assert.rejects(slow.append([{ event_type: "x", payload: 1 }]), AppendOutcomeUnknown);
  });

  test("aborting a signal rejects the call with the signal's reason", async () => {
    const slow = new FactstrClient({ baseUrl: server.url, fetch: hanging });
    const controller = new AbortController();
    const call = slow.head({ signal: controller.signal });
    const reason = new Error("changed my mind");
    controller.abort(reason);
    await assert.rejects(call, (error) => error === reason);
    await assert.rejects(client.head({ signal: AbortSignal.abort(reason) }), (error) => error === reason);
  });

  test("an unreachable server throws BackendError", async () => {
    const nowhere = new FactstrClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, timeoutMs: 5_000 });
    const error = await nowhere.head().catch((caught: unknown) => caught);
    assert.ok(error instanceof BackendError);
    assert.equal(error.code, "connection_failed");
    // Refused before sending: an append may safely be retried, so it is not "outcome unknown".
    const append = await nowhere.append([{ event_type: "x", payload: 1 }]).catch((caught: unknown) => caught);
    assert.ok(append instanceof BackendError && !(append instanceof AppendOutcomeUnknown));
  });
});
