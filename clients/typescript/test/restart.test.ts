// Streams survive a server restart: they reconnect and resume with no gap and no duplicate.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { type EventRecord, FactstrClient } from "@factstr/client";
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

async function appendBatches(type: string, count: number): Promise<bigint[][]> {
  const batches: bigint[][] = [];
  for (let index = 0; index < count; index += 1) {
    const result = await client.append([
      { event_type: type, payload: { index } },
      { event_type: type, payload: { index, second: true } },
    ]);
    batches.push([result.first_sequence_number, result.last_sequence_number]);
  }
  return batches;
}

test("live and durable streams resume after a restart without gap or duplicate", async () => {
  const type = unique("restart");
  const query = { filters: [{ event_types: [type] }] };
  const live: bigint[][] = [];
  const durable: bigint[][] = [];
  const keep = (into: bigint[][]) => (batch: readonly EventRecord[]) => {
    into.push(batch.map((record) => record.sequence_number));
  };
  const errors: unknown[] = [];
  const options = { reconnectDelayMs: { initial: 50, max: 300 }, onError: (error: unknown) => errors.push(error) };

  const before = await appendBatches(type, 3);
  const liveStream = await client.streamTo(query, keep(live), { ...options, start: "beginning" });
  const durableStream = await client.streamToDurable(unique("restart-projector"), query, keep(durable), options);
  await liveStream.waitUntil(before.at(-1)![1]!, { timeoutMs: 10_000 });
  await durableStream.waitUntil(before.at(-1)![1]!, { timeoutMs: 10_000 });

  await server.stop();
  await server.run();
  // Appended as soon as the server is back, probably before the streams reconnected: replayed then.
  const afterRestart = await appendBatches(type, 3);
  const last = afterRestart.at(-1)![1]!;
  assert.equal(await liveStream.waitUntil(last, { timeoutMs: 20_000 }), true);
  assert.equal(await durableStream.waitUntil(last, { timeoutMs: 20_000 }), true);

  // And live again after the reconnect.
  const more = await appendBatches(type, 2);
  const end = more.at(-1)![1]!;
  assert.equal(await liveStream.waitUntil(end, { timeoutMs: 10_000 }), true);
  assert.equal(await durableStream.waitUntil(end, { timeoutMs: 10_000 }), true);
  await liveStream.unsubscribe();
  await durableStream.unsubscribe();

  assert.deepEqual(errors, []);
  const expected = [...before, ...afterRestart, ...more];
  assert.deepEqual(live, expected);
  assert.deepEqual(durable, expected);
});

test("a durable stream waiting for a server that is down stops cleanly on unsubscribe", async () => {
  const stream = await client.streamAllDurable(unique("patient"), () => undefined, {
    start: "end",
    reconnectDelayMs: { initial: 50, max: 200 },
  });
  await server.stop();
  try {
    await stream.unsubscribe();
    assert.equal((await stream.closed).reason, "unsubscribed");
  } finally {
    await server.run();
  }
});
