// Namespaces: a client bound to one by option or URL, administration, and the errors of each refusal.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  FactstrClient,
  InvalidInput,
  type LocalServer,
  NamespaceForbidden,
  startServer,
  UnknownNamespace,
} from "@factstr/client";
import { factstrExecutable } from "./server.js";

let server: LocalServer;

before(async () => {
  server = await startServer({
    executable: factstrExecutable,
    token: "root-token", // without --admin-token, the server's token administers
    args: ["--namespace-token", "acme=acme-token"],
  });
});
after(() => server.stop());

test("a namespace is a log of its own, chosen by option or by URL", async () => {
  const byOption = server.connect({ namespace: "acme" });
  const byUrl = new FactstrClient({ baseUrl: `${server.url}/ns/acme`, token: "acme-token" });
  assert.equal(byUrl.namespace, "acme");
  assert.equal(byUrl.baseUrl, `${server.url}/ns/acme/`);
  const before = (await byOption.head()) ?? 0n;
  await byUrl.append([{ event_type: "tenant", payload: 1 }]);
  assert.equal(await byOption.head(), before + 1n);
  assert.equal(await server.client.query({ filters: [{ event_types: ["tenant"] }] }).then((r) => r.event_records.length), 0);
  assert.throws(() => new FactstrClient({ baseUrl: `${server.url}/ns/acme`, namespace: "other" }), InvalidInput);
  assert.throws(() => new FactstrClient({ baseUrl: server.url, namespace: "Not A Name" }), InvalidInput);
});

test("createNamespace, namespaces and dropNamespace", async () => {
  const store = await server.client.createNamespace({ name: "ts-made", ephemeral: true, idleTimeoutSeconds: 60 });
  assert.equal(store.namespace, "ts-made");
  const listed = await server.client.namespaces();
  assert.equal(listed[0]?.name, "default");
  assert.deepEqual(
    listed.find(({ name }) => name === "ts-made"),
    { name: "ts-made", ephemeral: true, idleTimeoutSeconds: 60, openStreams: 0 },
  );
  const exists = await server.client.createNamespace({ name: "ts-made" }).catch((error: unknown) => error);
  assert.ok(exists instanceof InvalidInput && exists.code === "namespace_exists", String(exists));
  const batches = await store.streamAll(() => undefined);
  const busy = await store.dropNamespace().catch((error: unknown) => error);
  assert.ok(busy instanceof InvalidInput && busy.code === "namespace_busy", String(busy));
  await store.dropNamespace(store.namespace, { force: true });
  await batches.unsubscribe();
  await assert.rejects(store.head(), UnknownNamespace);
});

test("a namespace token reaches its namespace only, with one answer for what exists and what does not", async () => {
  const acme = new FactstrClient({ baseUrl: server.url, token: "acme-token", namespace: "acme" });
  await acme.head();
  for (const namespace of ["default", "ts-missing"]) {
    const other = new FactstrClient({ baseUrl: server.url, token: "acme-token", namespace });
    const error = await other.head().catch((caught: unknown) => caught);
    assert.ok(error instanceof NamespaceForbidden, String(error));
    assert.equal(error.status, 403);
  }
  await assert.rejects(acme.createNamespace(), NamespaceForbidden);
});
