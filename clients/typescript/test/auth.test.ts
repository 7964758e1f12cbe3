// A server started with --token: every call needs the bearer token, streams and their acknowledgements too.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { FactstrClient, Unauthorized } from "@factstr/client";
import { TestServer, unique } from "./server.js";

const TOKEN = "s3cret-token";
let server: TestServer;

before(async () => {
  server = await TestServer.start({ token: TOKEN });
});
after(async () => {
  await server.close();
});

test("calls without the right token throw Unauthorized", async () => {
  for (const token of [undefined, "wrong"]) {
    const client = new FactstrClient({ baseUrl: server.url, ...(token === undefined ? {} : { token }) });
    const error = await client.head().catch((caught: unknown) => caught);
    assert.ok(error instanceof Unauthorized);
    assert.equal(error.status, 401);
    await assert.rejects(client.append([{ event_type: "x", payload: 1 }]), Unauthorized);
    await assert.rejects(client.streamAll(() => undefined), Unauthorized);
  }
});

test("with the token, appends, queries and durable streams work", async () => {
  const client = new FactstrClient({ baseUrl: server.url, token: TOKEN });
  const type = unique("auth");
  const result = await client.append([{ event_type: type, payload: { ok: true } }]);
  const seen: bigint[] = [];
  const query = { filters: [{ event_types: [type] }] };
  const stream = await client.streamToDurable(unique("auth-projector"), query, (batch) => {
    seen.push(...batch.map((record) => record.sequence_number));
  });
  assert.equal(await stream.waitUntil(result.last_sequence_number, { timeoutMs: 10_000 }), true);
  await stream.unsubscribe();
  assert.deepEqual(seen, [result.last_sequence_number]);
  assert.equal((await client.durableStreams()).length, 1);
});
