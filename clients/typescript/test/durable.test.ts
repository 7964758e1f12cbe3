// Durable streams and cursor administration (docs/contract.md, C6.1).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  DurableStreamActive,
  DurableStreamMismatch,
  type EventQuery,
  type EventRecord,
  FactstrClient,
  InvalidInput,
  UnknownDurableStream,
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

function ofType(type: string): EventQuery {
  return { filters: [{ event_types: [type] }] };
}

function collector(): { batches: bigint[][]; handler: (batch: readonly EventRecord[]) => void } {
  const batches: bigint[][] = [];
  return { batches, handler: (batch) => void batches.push(batch.map((record) => record.sequence_number)) };
}

async function appendBatches(type: string, count: number): Promise<bigint[][]> {
  const batches: bigint[][] = [];
  for (let index = 0; index < count; index += 1) {
    const size = (index % 3) + 1;
    const events = Array.from({ length: size }, (_, n) => ({ event_type: type, payload: { index, n } }));
    const result = await client.append(events);
    batches.push(Array.from({ length: size }, (_, n) => result.first_sequence_number + BigInt(n)));
  }
  return batches;
}

describe("durable streams", () => {
  test("replay history, then continue live, with no gap and no duplicate at the seam", async () => {
    const type = unique("seam");
    const name = unique("projector");
    const history = await appendBatches(type, 6);
    const { batches, handler } = collector();
    const stream = await client.streamToDurable(name, ofType(type), handler);
    // Appended while the replay may still be running: the seam.
    const live = await appendBatches(type, 6);
    const last = live.at(-1)!.at(-1)!;
    assert.equal(await stream.waitUntil(last, { timeoutMs: 10_000 }), true);
    await stream.unsubscribe();
    assert.deepEqual(batches, [...history, ...live]);

    const info = await client.durableStream(name);
    assert.equal(info?.cursor, last);
    assert.equal(info?.active, false);
    assert.equal(typeof info?.lag, "bigint");
  });

  test("registering again resumes after the stored cursor", async () => {
    const type = unique("resume");
    const name = unique("resumer");
    const [first] = await appendBatches(type, 1);
    const one = collector();
    const stream = await client.streamToDurable(name, ofType(type), one.handler);
    await stream.waitUntil(first!.at(-1)!, { timeoutMs: 10_000 });
    await stream.unsubscribe();

    const later = await appendBatches(type, 2);
    const two = collector();
    const again = await client.streamToDurable(name, ofType(type), two.handler);
    await again.waitUntil(later.at(-1)!.at(-1)!, { timeoutMs: 10_000 });
    await again.unsubscribe();
    assert.deepEqual(one.batches, [first]);
    assert.deepEqual(two.batches, later);
  });

  test("a handler that throws stops the stream; the cursor stays; registering again retries that batch", async () => {
    const type = unique("fail");
    const name = unique("failing");
    const batches = await appendBatches(type, 3);
    const errors: unknown[] = [];
    let calls = 0;
    const stream = await client.streamToDurable(
      name,
      ofType(type),
      async () => {
        calls += 1;
        if (calls === 2) throw new Error("cannot handle the second batch");
      },
      { onError: (error) => errors.push(error) },
    );
    const closed = await stream.closed;
    assert.equal(closed.reason, "failed");
    assert.equal((closed.failure as Error).message, "cannot handle the second batch");
    assert.equal(errors.length, 1);
    assert.equal(calls, 2);
    assert.equal(stream.position, batches[0]!.at(-1));
    await assert.rejects(stream.waitUntil(batches[2]!.at(-1)!), /cannot handle/);

    const info = await client.durableStream(name);
    assert.equal(info?.cursor, batches[0]!.at(-1));
    assert.equal(info?.active, false);

    const { batches: retried, handler } = collector();
    const again = await client.streamToDurable(name, ofType(type), handler);
    await again.waitUntil(batches[2]!.at(-1)!, { timeoutMs: 10_000 });
    await again.unsubscribe();
    assert.deepEqual(retried, batches.slice(1));
  });

  test("a second registration of a held name throws DurableStreamActive", async () => {
    const name = unique("held");
    const stream = await client.streamAllDurable(name, () => undefined, { start: "end" });
    await assert.rejects(client.streamAllDurable(name, () => undefined), DurableStreamActive);
    assert.equal((await client.durableStream(name))?.active, true);
    await assert.rejects(client.deleteDurableStream(name), DurableStreamActive);
    await stream.unsubscribe();
    // unsubscribe resolved: the name is free at once.
    const again = await client.streamAllDurable(name, () => undefined);
    await again.unsubscribe();
  });

  test("a different query for a stored name throws DurableStreamMismatch unless reset", async () => {
    const name = unique("mismatch");
    const type = unique("m");
    const stream = await client.streamToDurable(name, ofType(type), () => undefined, { start: "end" });
    await stream.unsubscribe();
    const error = await client.streamToDurable(name, ofType(`${type}-other`), () => undefined).catch((e: unknown) => e);
    assert.ok(error instanceof DurableStreamMismatch && error instanceof InvalidInput);
    const reset = await client.streamToDurable(name, ofType(`${type}-other`), () => undefined, {
      reset: true,
      start: "end",
    });
    await reset.unsubscribe();
    assert.deepEqual((await client.durableStream(name))?.query.filters, [
      { event_types: [`${type}-other`], payload_predicates: null },
    ]);
  });

  test("start: 'end' skips history for a new name", async () => {
    const type = unique("tail");
    const name = unique("tailer");
    await appendBatches(type, 2);
    const { batches, handler } = collector();
    const stream = await client.streamToDurable(name, ofType(type), handler, { start: "end" });
    const fresh = await appendBatches(type, 1);
    await stream.waitUntil(fresh[0]!.at(-1)!, { timeoutMs: 10_000 });
    await stream.unsubscribe();
    assert.deepEqual(batches, fresh);
  });

  test("cursors can be listed, inspected, reset and deleted", async () => {
    const type = unique("admin");
    const name = unique("admin/with slash");
    const batches = await appendBatches(type, 3);
    const stream = await client.streamToDurable(name, ofType(type), () => undefined);
    await stream.waitUntil(batches[2]!.at(-1)!, { timeoutMs: 10_000 });
    await stream.unsubscribe();

    const listed = (await client.durableStreams()).find((info) => info.name === name);
    const head = await client.head();
    assert.deepEqual(listed, {
      name,
      query: {
        filters: [{ event_types: [type], payload_predicates: null }],
        min_sequence_number: null,
        limit: null,
        backwards: false,
        max_sequence_number: null,
      },
      cursor: batches[2]!.at(-1),
      head,
      lag: head! - batches[2]!.at(-1)!,
      active: false,
    });

    await client.resetDurableStream(name, batches[0]!.at(-1)!);
    assert.equal((await client.durableStream(name))?.cursor, batches[0]!.at(-1));
    const { batches: replayed, handler } = collector();
    const again = await client.streamToDurable(name, ofType(type), handler);
    await again.waitUntil(batches[2]!.at(-1)!, { timeoutMs: 10_000 });
    await again.unsubscribe();
    assert.deepEqual(replayed, batches.slice(1));

    await client.deleteDurableStream(name);
    assert.equal(await client.durableStream(name), null);
    await client.deleteDurableStream(name); // nothing to delete: still fine
  });

  test("admin calls on an unknown name", async () => {
    assert.equal(await client.durableStream(unique("nobody")), null);
    await assert.rejects(client.resetDurableStream(unique("nobody"), 1), UnknownDurableStream);
  });

  test("bad durable names and starts are InvalidInput", async () => {
    await assert.rejects(client.streamAllDurable("x".repeat(201), () => undefined), InvalidInput);
    await assert.rejects(client.streamAllDurable(unique("s"), () => undefined, { start: -1 }), InvalidInput);
  });

  test("unsubscribe waits for the handler in progress and stores its cursor", async () => {
    const type = unique("inflight");
    const name = unique("inflight");
    const [batch] = await appendBatches(type, 1);
    let release: () => void = () => undefined;
    let entered: () => void = () => undefined;
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const stream = await client.streamToDurable(name, ofType(type), async () => {
      entered();
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    await inHandler;
    const unsubscribed = stream.unsubscribe();
    setTimeout(() => release(), 100);
    await unsubscribed;
    assert.equal((await client.durableStream(name))?.cursor, batch!.at(-1));
  });
});

describe("durable names over HTTP", () => {
  test("awkward names are reached exactly: listed, read, reset, deleted", async () => {
    const tag = unique("n");
    const names = ["a/b", "a%2Fb", "%ff", "a b", "a?b#c", "x/reset", "ü-名前-😀", "...", "e\u0301"].map(
      (name) => `${tag}${name}`,
    );
    for (const name of names) {
      const stream = await client.streamToDurable(name, {}, () => undefined, { start: "end" });
      await stream.unsubscribe();
    }
    const listed = (await client.durableStreams()).map((info) => info.name).filter((name) => name.startsWith(tag));
    assert.deepEqual([...listed].sort(), [...names].sort());
    for (const name of names) {
      assert.equal((await client.durableStream(name))?.name, name);
      await client.resetDurableStream(name, 0);
      await client.deleteDurableStream(name);
      assert.equal(await client.durableStream(name), null);
    }
  });

  test("names a URL cannot carry are refused before anything is sent", async () => {
    for (const name of [".", "..", "\ud800"]) {
      await assert.rejects(client.durableStream(name), InvalidInput);
      await assert.rejects(client.deleteDurableStream(name), InvalidInput);
      await assert.rejects(client.streamToDurable(name, {}, () => undefined), InvalidInput);
    }
  });

  test("a trailing newline never reaches the name without it", async () => {
    const name = unique("victim");
    const stream = await client.streamToDurable(name, {}, () => undefined, { start: "end" });
    await stream.unsubscribe();
    // Without the character rule the name with a newline is another name; with it, it is refused.
    await client.deleteDurableStream(`${name}\n`).catch((error: unknown) => assert.ok(error instanceof InvalidInput));
    assert.notEqual(await client.durableStream(name), null);
  });
});
