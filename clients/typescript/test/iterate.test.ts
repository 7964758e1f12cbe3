// Streams as async iterators: `for await (const batch of client.streamTo(query))` (docs/contract.md, C6, C6.1).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  BackendError,
  DurableStreamActive,
  type EventQuery,
  FactstrClient,
  type FetchFunction,
  InvalidInput,
  type LocalServer,
  startServer,
} from "@factstr/client";
import { factstrExecutable, sleep, unique } from "./server.js";

let server: LocalServer;
let client: FactstrClient;

before(async () => {
  server = await startServer({ executable: factstrExecutable, timeoutMs: 10_000 });
  client = server.client;
});
after(async () => {
  await server.stop();
});

function ofType(type: string): EventQuery {
  return { filters: [{ event_types: [type] }] };
}

/** Resolve once `check` holds (polling); fail after `ms`. A wait, not a timing assertion. */
async function eventually(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`still not true after ${ms} ms: ${what}`);
    await sleep(20);
  }
}

async function appendBatches(type: string, count: number): Promise<bigint[]> {
  const lasts: bigint[] = [];
  for (let index = 0; index < count; index += 1) {
    const result = await client.append([
      { event_type: type, payload: { index } },
      { event_type: type, payload: { index, second: true } },
    ]);
    lasts.push(result.last_sequence_number);
  }
  return lasts;
}

describe("live streams as async iterators", () => {
  test("deliver each committed batch intact and in order; break unsubscribes", async () => {
    const type = unique("loop");
    const batches = client.streamTo<{ index: number; second?: boolean }>(ofType(type));
    await batches.ready();
    const lasts = await appendBatches(type, 3);
    const seen: bigint[][] = [];
    for await (const batch of batches) {
      seen.push(batch.map((record) => record.sequence_number));
      assert.equal(batch[0]!.payload.index, seen.length - 1);
      if (seen.length === 3) break;
    }
    assert.deepEqual(
      seen,
      lasts.map((last) => [last - 1n, last]),
    );
    assert.deepEqual(await batches.closed, { reason: "unsubscribed", failure: undefined });
    // The loop is over for good: asking again gives nothing.
    assert.deepEqual(await batches.next(), { done: true, value: undefined });
  });

  test("registration starts at once; ready() and the first next() reject with what the server refused", async () => {
    const name = unique("held");
    const holder = await client.streamToDurable(name, {}, () => undefined);
    const batches = client.streamToDurable(name, {});
    await assert.rejects(batches.ready(), DurableStreamActive);
    await assert.rejects(batches.next(), DurableStreamActive);
    assert.deepEqual(await batches.next(), { done: true, value: undefined });
    await holder.unsubscribe();
  });

  test("bad arguments throw InvalidInput at once, before anything is sent", () => {
    assert.throws(() => client.streamToDurable("..", {}), InvalidInput);
    assert.throws(() => client.streamTo({ filters: [{ payload_predicates: [{ n: 1n } as never] }] }), InvalidInput);
  });

  test("unsubscribe() from outside ends a loop that waits for a batch", async () => {
    const batches = client.streamTo(ofType(unique("idle")));
    const loop = (async () => {
      let count = 0;
      for await (const _batch of batches) count += 1;
      return count;
    })();
    await batches.ready();
    await batches.unsubscribe();
    assert.equal(await loop, 0);
    assert.equal((await batches.closed).reason, "unsubscribed");
  });

  test("return() while a next() waits for a batch ends both", async () => {
    const batches = client.streamTo(ofType(unique("waiting")));
    const waiting = batches.next();
    await batches.ready();
    assert.deepEqual(await batches.return(), { done: true, value: undefined });
    assert.deepEqual(await waiting, { done: true, value: undefined });
    assert.equal((await batches.closed).reason, "unsubscribed");
  });

  test("aborting the signal ends the loop", async () => {
    const controller = new AbortController();
    const type = unique("aborted");
    const batches = client.streamTo(ofType(type), { signal: controller.signal });
    await batches.ready();
    await client.append([{ event_type: type, payload: 1 }]);
    let count = 0;
    for await (const _batch of batches) {
      count += 1;
      controller.abort();
    }
    assert.equal(count, 1);
    assert.equal((await batches.closed).reason, "unsubscribed");
  });

  test("a stream that fails makes next() reject with its failure", async () => {
    // A server message the client cannot read: the stream stops with BackendError (unexpected_response).
    const garbled: FetchFunction = async (input, init) => {
      const response = await fetch(input, init);
      if (!(response.headers.get("content-type") ?? "").startsWith("text/event-stream") || response.body === null) {
        return response;
      }
      const reader = response.body.getReader();
      let first = true;
      const body = new ReadableStream<Uint8Array>({
        pull: async (controller) => {
          const { done, value } = await reader.read();
          if (done) return controller.close();
          controller.enqueue(value);
          if (first) controller.enqueue(new TextEncoder().encode("data: {not json\n\n"));
          first = false;
        },
        cancel: (reason) => reader.cancel(reason),
      });
      return new Response(body, { status: response.status, headers: response.headers });
    };
    const batches = server.connect({ fetch: garbled }).streamTo(ofType(unique("garbled")));
    await assert.rejects(
      (async () => {
        for await (const _batch of batches) assert.fail("no batch was committed");
      })(),
      (error: unknown) => error instanceof BackendError && error.code === "unexpected_response",
    );
    assert.equal((await batches.closed).reason, "failed");
  });
});

describe("durable streams as async iterators", () => {
  test("a batch is acknowledged when the loop asks for the next one; the batch a loop breaks out of is not", async () => {
    const type = unique("acked");
    const name = unique("board");
    const [first, second, third] = await appendBatches(type, 3);
    const cursor = async (): Promise<bigint | null> => (await client.durableStream(name))?.cursor ?? null;
    // The acknowledgements the client sends. (The stored cursor itself may lag behind them during a replay:
    // the store writes it a few times a second, and always when the stream stops.)
    const acknowledged: bigint[] = [];
    const watching: FetchFunction = (input, init) => {
      if (String(input).endsWith("/ack")) acknowledged.push(BigInt(/\d+/.exec(String(init?.body))![0]));
      return fetch(input, init);
    };

    const batches = server.connect({ fetch: watching }).streamToDurable(name, ofType(type));
    for await (const batch of batches) {
      const last = batch.at(-1)!.sequence_number;
      if (last === first) {
        // While the body runs, its batch is not handled yet.
        await sleep(100);
        assert.deepEqual(acknowledged, []);
      } else {
        assert.equal(last, second);
        await eventually(async () => acknowledged.includes(first!), "the first batch is acknowledged");
        break;
      }
    }
    assert.deepEqual(acknowledged, [first]);
    assert.equal((await batches.closed).reason, "unsubscribed");
    assert.equal(await cursor(), first);

    // The name is free again at once, and the batch the loop broke out of comes again.
    const again = client.streamToDurable(name, ofType(type));
    const seen: bigint[] = [];
    for await (const batch of again) {
      seen.push(batch.at(-1)!.sequence_number);
      // unsubscribe() counts the batch in hand as handled, and the loop ends at its next turn.
      if (seen.length === 2) await again.unsubscribe();
    }
    assert.deepEqual(seen, [second, third]);
    assert.equal(await cursor(), third);
  });

  test("an exception in the loop body leaves its batch for the next registration", async () => {
    const type = unique("jam");
    const name = unique("printer");
    const [first, second] = await appendBatches(type, 2);
    const jammed = new Error("the printer jammed");
    await assert.rejects(
      (async () => {
        for await (const batch of client.streamToDurable(name, ofType(type))) {
          if (batch.at(-1)!.sequence_number === second) throw jammed;
        }
      })(),
      (error: unknown) => error === jammed,
    );
    const again = client.streamToDurable(name, ofType(type));
    const { value } = await again.next();
    assert.equal(value?.at(-1)?.sequence_number, second);
    await again.return();
    assert.equal((await client.durableStream(name))?.cursor, first);
  });

  test("waitUntil resolves once the loop finished the batches up to a number", async () => {
    const type = unique("wait");
    const name = unique("waiter");
    const [, last] = await appendBatches(type, 2);
    const batches = client.streamToDurable(name, ofType(type));
    const finished: bigint[] = [];
    const loop = (async () => {
      for await (const batch of batches) finished.push(batch.at(-1)!.sequence_number);
    })();
    assert.equal(await batches.waitUntil(last!, { timeoutMs: 10_000 }), true);
    assert.equal(finished.at(-1), last);
    await batches.unsubscribe();
    await loop;
  });
});

describe("back-pressure", () => {
  test("while the loop body runs, the client reads no further from the server", async () => {
    let bytesRead = 0;
    // Counts the bytes the client pulls from the event stream's connection (one chunk is read ahead).
    const counting: FetchFunction = async (input, init) => {
      const response = await fetch(input, init);
      if (!(response.headers.get("content-type") ?? "").startsWith("text/event-stream") || response.body === null) {
        return response;
      }
      const reader = response.body.getReader();
      const body = new ReadableStream<Uint8Array>(
        {
          pull: async (controller) => {
            const { done, value } = await reader.read();
            if (done) return controller.close();
            bytesRead += value.byteLength;
            controller.enqueue(value);
          },
          cancel: (reason) => reader.cancel(reason),
        },
        { highWaterMark: 0 },
      );
      return new Response(body, { status: response.status, headers: response.headers });
    };
    const type = unique("flood");
    const batches = server.connect({ fetch: counting }).streamTo<{ index: number; text: string }>(ofType(type));
    await batches.ready();
    const text = "x".repeat(50_000);
    const total = 40;
    await client.append([{ event_type: type, payload: { index: 0, text } }]);
    const first = await batches.next();
    assert.equal(first.value?.[0]?.payload.index, 0);
    // The loop holds batch 0 while 39 more (about 2 MB) are committed; the server has them all to send.
    for (let index = 1; index < total; index += 1) await client.append([{ event_type: type, payload: { index, text } }]);
    await sleep(500);
    assert.ok(bytesRead < 500_000, `the client read ${bytesRead} bytes while the loop held one batch of 50 kB`);
    const indexes = [0];
    for await (const batch of batches) {
      indexes.push(batch[0]!.payload.index);
      if (indexes.length === total) break;
    }
    assert.deepEqual(
      indexes,
      Array.from({ length: total }, (_unused, index) => index),
    );
    assert.ok(bytesRead > total * 50_000);
  });
});
