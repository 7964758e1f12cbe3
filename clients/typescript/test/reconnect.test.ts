// Streams whose connection is cut (no restart): they resume without gap, and a durable stream whose last
// acknowledgement was lost gets that batch again without calling the handler twice.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { type EventRecord, FactstrClient, type FetchFunction } from "@factstr/client";
import { sleep, TestServer, unique } from "./server.js";

let server: TestServer;

before(async () => {
  server = await TestServer.start();
});
after(async () => {
  await server.close();
});

/** A fetch that can cut the open event streams and make acknowledgements fail, as a flaky network would. */
class FlakyNetwork {
  private cuts: Array<() => void> = [];
  acknowledgementsToDrop = 0;
  connections = 0;

  readonly fetch: FetchFunction = async (input, init) => {
    const url = String(input);
    if (url.includes("/ack") && this.acknowledgementsToDrop > 0) {
      this.acknowledgementsToDrop -= 1;
      throw new TypeError("fetch failed (the test dropped this acknowledgement)");
    }
    const response = await fetch(input, init);
    if (!(response.headers.get("content-type") ?? "").startsWith("text/event-stream") || response.body === null) {
      return response;
    }
    this.connections += 1;
    const reader = response.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.cuts.push(() => {
          controller.error(new TypeError("the test cut the connection"));
          void reader.cancel();
        });
      },
      pull: async (controller) => {
        const { done, value } = await reader.read().catch(() => ({ done: true as const, value: undefined }));
        if (done) controller.close();
        else controller.enqueue(value);
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  };

  cutAll(): void {
    const cuts = this.cuts;
    this.cuts = [];
    for (const cut of cuts) cut();
  }
}

const fast = { reconnectDelayMs: { initial: 20, max: 200 } };

test("a live stream resumes after its connection is cut, without gap or duplicate", async () => {
  const network = new FlakyNetwork();
  const client = new FactstrClient({ baseUrl: server.url, fetch: network.fetch });
  const type = unique("cut");
  const seen: bigint[] = [];
  const handler = (batch: readonly EventRecord[]): void => {
    seen.push(...batch.map((record) => record.sequence_number));
  };
  const stream = await client.streamTo({ filters: [{ event_types: [type] }] }, handler, fast);
  const first = await client.append([{ event_type: type, payload: 1 }]);
  await stream.waitUntil(first.last_sequence_number, { timeoutMs: 10_000 });
  network.cutAll();
  const second = await client.append([{ event_type: type, payload: 2 }, { event_type: type, payload: 3 }]);
  await stream.waitUntil(second.last_sequence_number, { timeoutMs: 10_000 });
  await stream.unsubscribe();
  assert.ok(network.connections >= 2, "the stream reconnected");
  assert.deepEqual(seen, [first.last_sequence_number, second.first_sequence_number, second.last_sequence_number]);
});

test("a durable batch whose acknowledgement was lost is acknowledged again, not handled twice", async () => {
  const network = new FlakyNetwork();
  const client = new FactstrClient({ baseUrl: server.url, fetch: network.fetch });
  const type = unique("lost-ack");
  const name = unique("lost-ack");
  const handled: bigint[][] = [];
  const first = await client.append([{ event_type: type, payload: 1 }]);
  const handler = async (batch: readonly EventRecord[]): Promise<void> => {
    handled.push(batch.map((record) => record.sequence_number));
    if (handled.length === 1) {
      network.acknowledgementsToDrop = 1; // this batch's acknowledgement never reaches the server...
      setTimeout(() => network.cutAll(), 50); // ...and then the connection breaks
    }
  };
  const stream = await client.streamToDurable(name, { filters: [{ event_types: [type] }] }, handler, fast);
  await sleep(100);
  const second = await client.append([{ event_type: type, payload: 2 }]);
  assert.equal(await stream.waitUntil(second.last_sequence_number, { timeoutMs: 10_000 }), true);
  await stream.unsubscribe();
  assert.ok(network.connections >= 2, "the stream reconnected");
  assert.deepEqual(handled, [[first.last_sequence_number], [second.last_sequence_number]]);
  assert.equal((await client.durableStream(name))?.cursor, second.last_sequence_number);
});

test("unsubscribe during the reconnection backoff ends the stream at once", async () => {
  const network = new FlakyNetwork();
  const client = new FactstrClient({ baseUrl: server.url, fetch: network.fetch });
  const stream = await client.streamAllDurable(unique("backoff"), () => undefined, {
    start: "end",
    reconnectDelayMs: { initial: 60_000 },
  });
  network.cutAll();
  await sleep(50);
  const started = Date.now();
  await stream.unsubscribe();
  assert.ok(Date.now() - started < 5_000);
  assert.equal((await stream.closed).reason, "unsubscribed");
});
