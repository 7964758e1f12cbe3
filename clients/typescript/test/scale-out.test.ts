// Three `factstr serve` processes over one PostgreSQL schema behind a round-robin TCP balancer: the client
// sees one store; a durable stream's acknowledgements and closing reach whichever server comes next, and
// streams that reconnect to another server resume with no gap and no duplicate (docs/server.md).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { type Server, type Socket, connect, createServer } from "node:net";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";

import { type EventRecord, FactstrClient } from "@factstr/client";
import { TestServer, factstrExecutable, unique } from "./server.js";

const postgres = process.env["FACTSTR_POSTGRES_URL"] ?? "postgresql://postgres@127.0.0.1:5432/test";
const python = join(dirname(factstrExecutable), "python");

/** A plain layer-4 balancer: each new connection goes to the next server; `cut()` drops them all. */
class RoundRobinProxy {
  readonly sockets = new Set<Socket>();
  readonly connectionsByPort = new Map<number, number>();
  private turn = 0;
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly targets: number[],
  ) {}

  static async start(): Promise<RoundRobinProxy> {
    const targets: number[] = [];
    let proxy: RoundRobinProxy | undefined;
    const server = createServer((client) => proxy!.forward(client));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    assert.ok(address !== null && typeof address === "object");
    proxy = new RoundRobinProxy(server, address.port, targets);
    return proxy;
  }

  routeTo(ports: number[]): void {
    this.targets.splice(0, this.targets.length, ...ports);
  }

  private forward(client: Socket): void {
    const port = this.targets[this.turn++ % this.targets.length]!;
    this.connectionsByPort.set(port, (this.connectionsByPort.get(port) ?? 0) + 1);
    const upstream = connect(port, "127.0.0.1");
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => undefined);
    }
    client.pipe(upstream).on("close", () => client.destroy());
    upstream.pipe(client).on("close", () => upstream.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  }

  cut(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function postgresAnswers(): boolean {
  try {
    execFileSync(python, ["-c", "from factstr.testing._postgres_backend import require_server; require_server()"]);
    return true;
  } catch {
    return false;
  }
}

const schema = `factstr_ts_${unique("scale").replace(/[^a-z0-9]/gi, "_").toLowerCase()}`;
const required = process.env["FACTSTR_REQUIRE_POSTGRES"] === "1";
const available = postgresAnswers();
let proxy: RoundRobinProxy;
let servers: TestServer[] = [];

describe("behind a round-robin balancer", { skip: !available && !required ? "no PostgreSQL server" : false }, () => {
  before(async () => {
    assert.ok(available, `no PostgreSQL server answers at ${postgres}`);
    proxy = await RoundRobinProxy.start();
    const storeUrl = `${postgres}${postgres.includes("?") ? "&" : "?"}schema=${schema}`;
    const args = ["--stream-secret", "shared by every server", "--allowed-host", `127.0.0.1:${proxy.port}`];
    args.push("--heartbeat-seconds", "1");
    servers = await Promise.all([0, 1, 2].map(() => TestServer.start({ storeUrl, args })));
    proxy.routeTo(servers.map((server) => server.port));
  });
  after(async () => {
    await Promise.all(servers.map((server) => server.close()));
    await proxy?.close();
    if (available) {
      const drop = `from factstr.testing._postgres_backend import drop_schema; drop_schema(${JSON.stringify(schema)})`;
      execFileSync(python, ["-c", drop]);
    }
  });

  test("live and durable streams reconnect to other servers with no gap and no duplicate", async () => {
    const client = new FactstrClient({ baseUrl: `http://127.0.0.1:${proxy.port}`, timeoutMs: 10_000 });
    const live: bigint[] = [];
    const durable: bigint[] = [];
    const numbers = (into: bigint[]) => (batch: readonly EventRecord[]) => {
      for (const record of batch) into.push(record.sequence_number);
    };
    const name = unique("balanced");
    const liveStream = await client.streamAll(numbers(live), { reconnectDelayMs: { initial: 50, max: 500 } });
    const durableStream = await client.streamAllDurable(name, numbers(durable), {
      reconnectDelayMs: { initial: 50, max: 500 },
    });
    let last = 0n;
    for (let round = 0; round < 4; round += 1) {
      for (let n = 0; n < 5; n += 1) last = (await client.append([{ event_type: "e", payload: { round, n } }])).last_sequence_number;
      proxy.cut(); // every connection drops: each stream reconnects through the balancer to the next server
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    last = (await client.append([{ event_type: "last", payload: {} }])).last_sequence_number;
    assert.equal(await liveStream.waitUntil(last, { timeoutMs: 30_000 }), true);
    assert.equal(await durableStream.waitUntil(last, { timeoutMs: 30_000 }), true);
    await liveStream.unsubscribe();
    await durableStream.unsubscribe();
    const expected = Array.from({ length: Number(last) }, (_, index) => BigInt(index + 1));
    assert.deepEqual(live, expected);
    assert.deepEqual(durable, expected);
    // Acknowledged through the balancer (any server), closed through it, released everywhere.
    const info = await client.durableStream(name);
    assert.equal(info?.cursor, last);
    assert.equal(info?.active, false);
    assert.equal(proxy.connectionsByPort.size, 3);
  });
});
