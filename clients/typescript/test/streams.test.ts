// Live streams over server-sent events (docs/contract.md, C6).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { type EventQuery, type EventRecord, FactstrClient, StreamEnded } from "@factstr/client";
import { sleep, TestServer, unique } from "./server.js";

let server: TestServer;
let client: FactstrClient;

before(async () => {
  server = await TestServer.start();
  client = new FactstrClient({ baseUrl: server.url, timeoutMs: 10_000 });
});
after(async () => {
  await server.close();
});

function ofType(...types: string[]): EventQuery {
  return { filters: [{ event_types: types }] };
}

/** A handler that keeps every batch as the list of its sequence numbers. */
function collector(): { batches: bigint[][]; handler: (batch: readonly EventRecord[]) => void } {
  const batches: bigint[][] = [];
  return { batches, handler: (batch) => void batches.push(batch.map((record) => record.sequence_number)) };
}

describe("live streams", () => {
  test("deliver each committed batch intact, as one call, in commit order", async () => {
    const type = unique("batch");
    const { batches, handler } = collector();
    const stream = await client.streamTo(ofType(type), handler);
    const first = await client.append([1, 2, 3].map((n) => ({ event_type: type, payload: n })));
    const second = await client.append([{ event_type: type, payload: 4 }]);
    assert.equal(await stream.waitUntil(second.last_sequence_number, { timeoutMs: 10_000 }), true);
    await stream.unsubscribe();
    const f = first.first_sequence_number;
    assert.deepEqual(batches, [[f, f + 1n, f + 2n], [second.first_sequence_number]]);
  });

  test("deliver only a batch's matching events, and nothing for a batch without one", async () => {
    const wanted = unique("wanted");
    const other = unique("other");
    const received: EventRecord[][] = [];
    const stream = await client.streamTo(ofType(wanted), (batch) => void received.push([...batch]));
    const mixed = await client.append([
      { event_type: other, payload: 0 },
      { event_type: wanted, payload: 1 },
      { event_type: other, payload: 2 },
      { event_type: wanted, payload: 3 },
    ]);
    const unmatched = await client.append([{ event_type: other, payload: 4 }]);
    // `progress` lets waitUntil pass a number whose batch did not match.
    assert.equal(await stream.waitUntil(unmatched.last_sequence_number, { timeoutMs: 10_000 }), true);
    await stream.unsubscribe();
    assert.equal(received.length, 1);
    assert.deepEqual(
      received[0]!.map((record) => [record.sequence_number, record.event_type, record.payload]),
      [
        [mixed.first_sequence_number + 1n, wanted, 1],
        [mixed.first_sequence_number + 3n, wanted, 3],
      ],
    );
  });

  test("see only what is committed after registration, unless asked to start at the beginning", async () => {
    const type = unique("late");
    const before = await client.append([{ event_type: type, payload: "before" }]);
    const live = collector();
    const replaying = collector();
    const liveStream = await client.streamTo(ofType(type), live.handler);
    const replayStream = await client.streamTo(ofType(type), replaying.handler, { start: "beginning" });
    const later = await client.append([{ event_type: type, payload: "after" }]);
    await liveStream.waitUntil(later.last_sequence_number, { timeoutMs: 10_000 });
    await replayStream.waitUntil(later.last_sequence_number, { timeoutMs: 10_000 });
    await Promise.all([liveStream.unsubscribe(), replayStream.unsubscribe()]);
    assert.deepEqual(live.batches, [[later.last_sequence_number]]);
    assert.deepEqual(replaying.batches, [[before.last_sequence_number], [later.last_sequence_number]]);
  });

  test("give two streams each their own copy", async () => {
    const type = unique("copy");
    const one = collector();
    const two = collector();
    const first = await client.streamTo(ofType(type), one.handler);
    const second = await client.streamAll(two.handler);
    const result = await client.append([{ event_type: type, payload: {} }]);
    await first.waitUntil(result.last_sequence_number, { timeoutMs: 10_000 });
    await second.waitUntil(result.last_sequence_number, { timeoutMs: 10_000 });
    await first.unsubscribe();
    await second.unsubscribe();
    assert.deepEqual(one.batches, [[result.last_sequence_number]]);
    assert.deepEqual(two.batches.at(-1), [result.last_sequence_number]);
  });

  test("wait for an async handler before delivering the next batch", async () => {
    const type = unique("slow");
    let running = 0;
    let overlapped = false;
    const order: bigint[] = [];
    const stream = await client.streamTo(ofType(type), async (batch) => {
      running += 1;
      overlapped ||= running > 1;
      await sleep(30);
      order.push(batch[0]!.sequence_number);
      running -= 1;
    });
    let last = 0n;
    for (let index = 0; index < 4; index += 1) {
      last = (await client.append([{ event_type: type, payload: index }])).last_sequence_number;
    }
    await stream.waitUntil(last, { timeoutMs: 10_000 });
    await stream.unsubscribe();
    assert.equal(overlapped, false);
    assert.equal(order.length, 4);
    assert.deepEqual([...order].sort((a, b) => (a < b ? -1 : 1)), order);
  });

  test("a live handler that throws is reported and the stream goes on", async () => {
    const type = unique("flaky");
    const errors: unknown[] = [];
    const seen: bigint[] = [];
    const stream = await client.streamTo(
      ofType(type),
      (batch) => {
        seen.push(batch[0]!.sequence_number);
        if (seen.length === 1) throw new Error("first batch fails");
      },
      { onError: (error) => errors.push(error) },
    );
    await client.append([{ event_type: type, payload: 1 }]);
    const second = await client.append([{ event_type: type, payload: 2 }]);
    assert.equal(await stream.waitUntil(second.last_sequence_number, { timeoutMs: 10_000 }), true);
    await stream.unsubscribe();
    assert.equal(seen.length, 2);
    assert.equal(errors.length, 1);
    assert.equal((stream.failure as Error).message, "first batch fails");
  });

  test("after unsubscribe the handler is not called again, and unsubscribe is idempotent", async () => {
    const type = unique("unsub");
    const { batches, handler } = collector();
    const stream = await client.streamTo(ofType(type), handler);
    const first = await client.append([{ event_type: type, payload: 1 }]);
    await stream.waitUntil(first.last_sequence_number, { timeoutMs: 10_000 });
    await stream.unsubscribe();
    await stream.unsubscribe();
    assert.deepEqual(await stream.closed, { reason: "unsubscribed", failure: undefined });
    await client.append([{ event_type: type, payload: 2 }]);
    await sleep(200);
    assert.deepEqual(batches, [[first.last_sequence_number]]);
    await assert.rejects(stream.waitUntil(first.last_sequence_number + 1n), StreamEnded);
  });

  test("aborting the stream's signal unsubscribes it", async () => {
    const controller = new AbortController();
    const stream = await client.streamAll(() => undefined, { signal: controller.signal });
    controller.abort();
    assert.equal((await stream.closed).reason, "unsubscribed");
  });

  test("waitUntil gives false after its timeout", async () => {
    const stream = await client.streamAll(() => undefined);
    const head = (await client.head()) ?? 0n;
    assert.equal(await stream.waitUntil(head + 1000n, { timeoutMs: 50 }), false);
    await stream.unsubscribe();
  });
});
