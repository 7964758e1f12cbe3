/**
 * `startServer`: a `factstr serve` of its own, started from Node as a child process. This is the development
 * and test story (an application's tests start a server, use it, and stop it); production points a
 * `FactstrClient` at a server that runs on its own.
 *
 * The server listens on a port the operating system picks (`--port 0`) and says which in its log; reading it
 * there (instead of picking a free port here and passing it on) means no other process can take the port in
 * between. Every started server is stopped when the Node process exits, even when nobody called `stop()`:
 * on `exit` (a normal end, `process.exit`, an uncaught exception) and on SIGINT, SIGTERM and SIGHUP.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { delimiter, join } from "node:path";

import { FactstrClient } from "./client.js";
import type { FetchFunction } from "./transport.js";

export interface StartServerOptions {
  /**
   * The store the server opens, created when missing: `memory://` (the default: empty at every start),
   * `sqlite:///app.db` (a file, relative to `cwd`), `sqlite:////abs/app.db`, `postgresql://...`.
   */
  readonly store?: string;
  /** The `factstr` executable. By default `$FACTSTR_BIN`, else `factstr` on the `PATH`. */
  readonly executable?: string;
  /** The address to listen on: `127.0.0.1` by default. */
  readonly host?: string;
  /** The port; by default one the operating system picks. */
  readonly port?: number;
  /** Make the server require this bearer token (the returned clients send it). */
  readonly token?: string;
  /** More `factstr serve` options, e.g. `["--heartbeat-seconds", "1"]` (see `factstr serve --help`). */
  readonly args?: readonly string[];
  /** The server's working directory (where a relative `sqlite:///` path lands): this process's by default. */
  readonly cwd?: string;
  /** Environment variables for the server, on top of this process's. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** How long the server may take to answer its health check: 30 000 ms by default. */
  readonly startTimeoutMs?: number;
  /** The per-call timeout of the returned clients (the client's default otherwise). */
  readonly timeoutMs?: number;
}

/** Options of {@link LocalServer.connect}: everything a client takes except the server's address. */
export interface LocalClientOptions {
  /** The bearer token; the server's own (`StartServerOptions.token`) by default. */
  readonly token?: string;
  /** The namespace the client uses (`"default"` by default). */
  readonly namespace?: string;
  readonly timeoutMs?: number;
  readonly fetch?: FetchFunction;
}

/** Why `startServer` could not start a server; `output` holds what the server printed, if anything. */
export class ServerStartError extends Error {
  override name = "ServerStartError";

  constructor(
    message: string,
    readonly output = "",
    options?: { cause?: unknown },
  ) {
    super(output === "" ? message : `${message}\n--- factstr serve said:\n${output.trimEnd()}`, options);
  }
}

const INSTALL_HINT =
  "Install the FACTSTR server with `pip install 'factstr[server]'` (Python 3.11 or newer), then make " +
  "`factstr` findable: put it on the PATH, set FACTSTR_BIN to its path, or pass `executable` to startServer()";
const OUTPUT_LIMIT = 64 * 1024;
const STOP_GRACE_MS = 10_000;
const DEFAULT_START_TIMEOUT_MS = 30_000;

/** A running `factstr serve` child process. */
export class LocalServer {
  /** The server's base URL, e.g. `http://127.0.0.1:38211`. */
  readonly url: string;
  /** A client of this server, made with the start options (token, timeout). */
  readonly client: FactstrClient;
  private stopping: Promise<void> | undefined;

  /** @internal Use {@link startServer}. */
  constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    host: string,
    readonly store: string,
    private readonly options: StartServerOptions,
    private readonly log: OutputTail,
  ) {
    this.url = `http://${urlHost(host)}:${port}`;
    this.client = this.connect();
  }

  /** The server's process id. */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Whether the process still runs. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last 64 KiB the server wrote (its JSON log lines), for failure messages. */
  get output(): string {
    return this.log.text;
  }

  /** Another client of this server, e.g. with another token or timeout. */
  connect(options: LocalClientOptions = {}): FactstrClient {
    const token = options.token ?? this.options.token;
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    return new FactstrClient({
      baseUrl: this.url,
      ...(token === undefined ? {} : { token }),
      ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    });
  }

  /**
   * A fresh, empty, isolated store for one test: an ephemeral namespace of this server (milliseconds, where a
   * server start takes most of a second), and a client bound to it. Drop it when the test ends
   * (`await store.dropNamespace()`); the server drops it anyway when unused for `idleTimeoutSeconds` (300 by
   * default) or when it stops.
   */
  freshStore(options: { idleTimeoutSeconds?: number } = {}): Promise<FactstrClient> {
    return this.client.createNamespace({ ephemeral: true, ...options });
  }

  /**
   * Stop the server as in production (SIGTERM: streams get their `end` message, durable names are released,
   * the store is closed) and resolve once the process exited; SIGKILL after 10 s. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= stopChild(this.child);
    return this.stopping;
  }
}

/**
 * Start `factstr serve` as a child process and resolve once it answers its health check. Rejects with
 * {@link ServerStartError} when the `factstr` executable is not found (the message says how to install it),
 * exits, or does not become healthy within `startTimeoutMs`.
 */
export async function startServer(options: StartServerOptions = {}): Promise<LocalServer> {
  const executable = findExecutable(options.executable);
  const store = options.store ?? "memory://";
  const host = options.host ?? "127.0.0.1";
  const port = String(options.port ?? 0);
  const args = ["serve", "--store", store, "--host", host, "--port", port, ...(options.args ?? [])];
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  // `factstr serve` takes its token from FACTSTR_TOKEN (not from the command line, where `ps` shows it).
  delete env["FACTSTR_TOKEN"];
  if (options.token !== undefined) env["FACTSTR_TOKEN"] = options.token;

  const log = new OutputTail();
  const child = spawn(executable, args, {
    cwd: options.cwd,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  watchProcessExit();
  child.once("exit", () => forget(child));
  // The server must not keep this process alive by itself: it is stopped when the process exits anyway.
  child.unref();
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding("utf8");
    stream?.on("data", (chunk: string) => log.add(chunk));
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  }

  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const failed = new Promise<never>((_resolve, reject) => {
    child.on("error", (error: NodeJS.ErrnoException) => {
      const missing = error.code === "ENOENT" || error.code === "EACCES";
      const noDirectory = options.cwd !== undefined && !existsSync(options.cwd);
      const message = noDirectory
        ? `cannot run ${executable}: the working directory ${options.cwd} does not exist`
        : missing
          ? `cannot run ${executable} (${error.code}). ${INSTALL_HINT}.`
          : `cannot run ${executable}: ${error.message}`;
      reject(new ServerStartError(message, log.text, { cause: error }));
    });
    child.once("exit", (code, signal) => {
      const how = code !== null ? `with status ${code}` : `on ${signal}`;
      reject(new ServerStartError(`factstr serve (${executable}) exited ${how} before it was ready`, log.text));
    });
  });
  failed.catch(() => undefined); // once the server is up, a later exit is nobody's error here
  const deadline = Date.now() + timeoutMs;
  const announcement = announcedPort(log, deadline);
  try {
    const port =
      options.port !== undefined && options.port !== 0
        ? options.port
        : await Promise.race([announcement.port, failed]);
    const server = new LocalServer(child, port, host, store, options, log);
    await Promise.race([healthy(server, log, deadline), failed]);
    return server;
  } catch (error) {
    await stopChild(child);
    throw error;
  } finally {
    announcement.cancel();
  }
}

/**
 * The port the server's log announces, as in uvicorn's "Uvicorn running on http://127.0.0.1:38211". Its timer
 * also keeps this process alive while the server starts (the child process itself is unref'd); `cancel()`
 * clears it whatever ended the start.
 */
function announcedPort(log: OutputTail, deadline: number): { port: Promise<number>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const port = new Promise<number>((resolve, reject) => {
    timer = setTimeout(() => {
      reject(new ServerStartError("factstr serve did not say which port it listens on in time", log.text));
    }, deadline - Date.now());
    log.onLine = (line) => {
      const found = portOfLine(line);
      if (found !== undefined) resolve(found);
    };
  });
  return {
    port,
    cancel: () => {
      clearTimeout(timer);
      log.onLine = undefined;
    },
  };
}

/** The port a log line announces ("... running on http://host:port ..."), if it is that line. */
function portOfLine(line: string): number | undefined {
  let message: unknown;
  try {
    message = Reflect.get(Object(JSON.parse(line)), "message");
  } catch {
    return undefined;
  }
  if (typeof message !== "string" || !/running on/i.test(message)) return undefined;
  const found = /https?:\/\/(?:\[[^\]]*\]|[^\s/:]+):(\d+)/.exec(message);
  const port = found === null ? 0 : Number(found[1]);
  return port > 0 ? port : undefined;
}

/** Resolve once GET /healthz answers 200 (the store answers too); reject at the deadline. */
async function healthy(server: LocalServer, log: OutputTail, deadline: number): Promise<void> {
  let delay = 10;
  let last: unknown;
  while (Date.now() < deadline && server.running) {
    try {
      const response = await fetch(`${server.url}/healthz`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.ok) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 200);
  }
  const why = last instanceof Error ? last.message : String(last);
  throw new ServerStartError(`factstr serve at ${server.url} did not become healthy in time (${why})`, log.text);
}

/** The `factstr` executable: the option, else $FACTSTR_BIN, else the first `factstr` on the PATH. */
function findExecutable(option: string | undefined): string {
  if (option !== undefined && option !== "") return option;
  const fromEnvironment = process.env["FACTSTR_BIN"];
  if (fromEnvironment !== undefined && fromEnvironment !== "") return fromEnvironment;
  const extensions = process.platform === "win32" ? (process.env["PATHEXT"] ?? ".EXE;.CMD;.BAT").split(";") : [""];
  for (const directory of (process.env["PATH"] ?? "").split(delimiter)) {
    if (directory === "") continue;
    for (const extension of extensions) {
      const candidate = join(directory, `factstr${extension}`);
      if (isExecutableFile(candidate)) return candidate;
    }
  }
  throw new ServerStartError(
    `the factstr command was not found: FACTSTR_BIN is not set and no PATH entry has it. ${INSTALL_HINT}.`,
  );
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function urlHost(host: string): string {
  // A server listening on every address is reached on loopback; an IPv6 address goes in brackets.
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
    forget(child);
  }
}

/** The tail of what the server wrote, and a callback per complete line (for the port announcement). */
class OutputTail {
  text = "";
  onLine: ((line: string) => void) | undefined;
  private partial = "";

  add(chunk: string): void {
    this.text = (this.text + chunk).slice(-OUTPUT_LIMIT);
    if (this.onLine === undefined) return;
    const lines = (this.partial + chunk).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) this.onLine?.(line);
  }
}

// --- stopping every server when this process exits ----------------------------------------------------------

const children = new Set<ChildProcess>();
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
let watching = false;

function killAll(): void {
  for (const child of children) {
    // SIGTERM: the server shuts down gracefully on its own; this process does not wait for it.
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  }
  children.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  killAll();
  // Listening for a signal turns off Node's default (exit). When nobody else listens, restore it and die of
  // the signal, as this process would have without us.
  if (process.listenerCount(signal) === 1) {
    unwatchProcessExit();
    process.kill(process.pid, signal);
  }
}

function watchProcessExit(): void {
  if (watching) return;
  watching = true;
  process.on("exit", killAll);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function unwatchProcessExit(): void {
  if (!watching) return;
  watching = false;
  process.off("exit", killAll);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}

function forget(child: ChildProcess): void {
  children.delete(child);
  // With no server left, this process's signals behave as if startServer had never been called.
  if (children.size === 0) unwatchProcessExit();
}
