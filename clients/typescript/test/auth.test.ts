// A server started with --token: every call needs the bearer token, streams and their acknowledgements too.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { FactstrClient, Forbidden, Unauthorized } from "@factstr/client";
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

test("a request the server's browser rules refuse throws Forbidden with the server's code", async () => {
  // Node's fetch lets a caller add an Origin header (a browser sets it itself): a foreign one is refused.
  const foreign: typeof fetch = (input, init) =>
    fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), origin: "https://evil.example" } });
  const client = new FactstrClient({ baseUrl: server.url, token: TOKEN, fetch: foreign });
  const error = await client.append([{ event_type: "forged", payload: 1 }]).catch((caught: unknown) => caught);
  assert.ok(error instanceof Forbidden, String(error));
  assert.equal(error.code, "origin_not_allowed");
  assert.equal(error.status, 403);
  // The same client without the foreign Origin works: same-origin and non-browser callers are not affected.
  const plain = new FactstrClient({ baseUrl: new URL(server.url.replace("127.0.0.1", "localhost")), token: TOKEN });
  await plain.append([{ event_type: unique("allowed"), payload: 1 }]);
});
