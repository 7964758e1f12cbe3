/**
 * A real `factstr serve` for the tests: a temporary SQLite file, a free loopback port, started and stopped
 * as a child process (and restarted on the same port and file, for the reconnect tests).
 */

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// dist/test/server.js -> the package root -> the repository's virtualenv.
const packageRoot = fileURLToPath(new URL("../../", import.meta.url));
/** The `factstr` the tests run: $FACTSTR_BIN, else the repository's virtualenv's. */
export const factstrExecutable = process.env["FACTSTR_BIN"] ?? join(packageRoot, "..", "..", ".venv", "bin", "factstr");

export interface ServerOptions {
  readonly token?: string;
  /** The store behind the server: a SQLite file in a temporary directory (the default), or memory. */
  readonly store?: "sqlite" | "memory";
  /** A store URL instead (e.g. a PostgreSQL schema shared by several servers). */
  readonly storeUrl?: string;
  /** More `factstr serve` arguments. */
  readonly args?: readonly string[];
}

export class TestServer {
  readonly url: string;
  private process: ChildProcess | undefined;
  private output = "";

  private constructor(
    readonly port: number,
    private readonly directory: string,
    private readonly options: ServerOptions,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  static async start(options: ServerOptions = {}): Promise<TestServer> {
    const server = new TestServer(await freePort(), mkdtempSync(join(tmpdir(), "factstr-ts-")), options);
    await server.run();
    return server;
  }

  /** Start the server process (again) on the same port and database file; resolve once it is healthy. */
  async run(): Promise<void> {
    const store =
      this.options.storeUrl ??
      (this.options.store === "memory" ? "memory://" : `sqlite:///${join(this.directory, "t.db")}`);
    const args = ["serve", "--store", store, "--port", String(this.port), ...(this.options.args ?? [])];
    if (this.options.token !== undefined) args.push("--token", this.options.token);
    const child = spawn(factstrExecutable, args, { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.output = (this.output + chunk).slice(-20_000);
    });
    this.process = child;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`factstr serve exited with ${child.exitCode}:\n${this.output}`);
      try {
        const response = await fetch(`${this.url}/healthz`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`factstr serve did not become healthy:\n${this.output}`);
  }

  /** Stop the process (SIGTERM: graceful shutdown, as in production) and wait until it exited. */
  async stop(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Stop the server and remove its database. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.directory, { recursive: true, force: true });
  }

  /** The server's log so far, for failure messages. */
  get log(): string {
    return this.output;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => {
        if (typeof address === "object" && address !== null) resolve(address.port);
        else reject(new Error("no port"));
      });
    });
  });
}

/** A name no other test uses, so that tests can share one server (and its log). */
export function unique(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Resolve after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
