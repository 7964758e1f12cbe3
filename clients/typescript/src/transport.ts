/**
 * HTTP requests to one FACTSTR server: base URL, bearer token, timeouts and cancellation, and error answers
 * turned into the typed errors of errors.ts.
 *
 * Calls go through `node:http` with a keep-alive agent of this client's own: `fetch` (undici) cost about
 * 1.3 ms more per call than the server took to answer, `node:http` on a kept-alive socket a small part of
 * that. Event streams use `fetch` (its body is the web stream the SSE reader takes), and so does everything
 * when a `fetch` is passed in (tests, proxies).
 */

import * as http from "node:http";
import * as https from "node:https";

import {
  AppendOutcomeUnknown,
  BackendError,
  errorFromAnswer,
  FactstrError,
  RequestTimeout,
} from "./errors.js";
import type { WritableValue } from "./json.js";
import { readErrorBody, requestBody } from "./wire.js";

/** The `fetch` the client uses; Node 20's global one by default (tests and proxies may pass their own). */
export type FetchFunction = (input: string | URL, init?: RequestInit) => Promise<Response>;

/** Per-call options; every client method takes them as its last argument. */
export interface CallOptions {
  /** Cancels the call: it then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Overrides the client's `timeoutMs` for this call. */
  readonly timeoutMs?: number;
}

export interface TransportOptions {
  readonly baseUrl: string | URL;
  readonly token?: string | undefined;
  readonly timeoutMs?: number | undefined;
  readonly fetch?: FetchFunction | undefined;
}

const DEFAULT_TIMEOUT_MS = 30_000;
// Connection errors that prove the request never reached the server, so even an append may be retried.
const NEVER_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/** An abort of ours: the timeout, told apart from the caller's own signal by identity. */
class TimeoutReason extends Error {}

/** A signal that fires on the caller's signal or after `timeoutMs`; `done()` releases the timer. */
export class Deadline {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly unlink: () => void;

  constructor(
    private readonly outer: AbortSignal | undefined,
    readonly timeoutMs: number | undefined,
  ) {
    this.signal = this.controller.signal;
    outer?.throwIfAborted();
    const forward = (): void => this.controller.abort(outer?.reason);
    outer?.addEventListener("abort", forward, { once: true });
    this.unlink = () => outer?.removeEventListener("abort", forward);
    if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
      this.timer = setTimeout(() => this.controller.abort(new TimeoutReason()), timeoutMs);
    }
  }

  /** The request is over (or a stream is established): stop the timer and stop following the caller's signal. */
  done(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.unlink();
  }

  /** Abort the request from this side (a stream being closed, a missed heartbeat). */
  abort(reason: unknown): void {
    this.controller.abort(reason);
  }

  /** The error a failed request stands for: the caller's abort reason, a timeout, or a network failure. */
  failure(error: unknown, what: string, unsureIfLost: boolean): unknown {
    const reason: unknown = this.signal.aborted ? this.signal.reason : undefined;
    if (this.outer?.aborted === true && reason === this.outer.reason) return reason;
    if (reason instanceof TimeoutReason) {
      const message = `${what}: no answer within ${this.timeoutMs} ms`;
      return unsureIfLost
        ? new AppendOutcomeUnknown(`${message}; it may or may not have been committed`)
        : new RequestTimeout(message);
    }
    if (this.signal.aborted) return reason;
    const code = networkCode(error);
    if (unsureIfLost && (code === undefined || !NEVER_SENT.has(code))) {
      return new AppendOutcomeUnknown(`${what}: the connection failed; it may or may not have been committed`, {
        cause: error,
      });
    }
    return new BackendError(`${what}: ${describe(error)}`, { code: "connection_failed", cause: error });
  }
}

function networkCode(error: unknown): string | undefined {
  // node:http puts the socket error's code on the error; undici reports the socket error as `cause` of a
  // TypeError("fetch failed").
  const own: unknown = typeof error === "object" && error !== null ? Reflect.get(error, "code") : undefined;
  if (typeof own === "string") return own;
  const cause: unknown = error instanceof Error ? error.cause : undefined;
  const code: unknown = typeof cause === "object" && cause !== null ? Reflect.get(cause, "code") : undefined;
  return typeof code === "string" ? code : undefined;
}

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // "fetch failed" alone says nothing; the socket's error (its cause) says what happened.
  const cause: unknown = error instanceof Error ? error.cause : undefined;
  return cause instanceof Error ? `${message}: ${cause.message}` : message;
}

export interface RequestSpec {
  readonly method: "GET" | "POST" | "DELETE";
  readonly path: string;
  readonly body?: WritableValue;
  /** The request changes the log: a lost connection means "outcome unknown", not "failed". */
  readonly unsureIfLost?: boolean;
  /** Headers sent besides the client's own (an append's `Idempotency-Key`). */
  readonly headers?: Readonly<Record<string, string>>;
}

export class Transport {
  readonly baseUrl: URL;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly fetch: FetchFunction;
  /** The keep-alive agent of the node:http path; undefined when a `fetch` was passed in. */
  private readonly agent: http.Agent | undefined;

  constructor(options: TransportOptions) {
    const base = new URL(options.baseUrl);
    if (base.protocol !== "http:" && base.protocol !== "https:") {
      throw new TypeError(`baseUrl must be an http:// or https:// URL, got ${base.href}`);
    }
    // A trailing slash lets relative API paths resolve under a path prefix (https://host/factstr/).
    if (!base.pathname.endsWith("/")) base.pathname += "/";
    this.baseUrl = base;
    this.headers = { accept: "application/json" };
    if (options.token !== undefined && options.token !== "") {
      this.headers["authorization"] = `Bearer ${options.token}`;
    }
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    if (options.fetch === undefined) {
      const agentOptions = { keepAlive: true, scheduling: "lifo" as const };
      this.agent = base.protocol === "https:" ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    }
  }

  url(path: string, params?: Readonly<Record<string, string>>): URL {
    const url = new URL(path.replace(/^\//, ""), this.baseUrl);
    for (const [key, value] of Object.entries(params ?? {})) url.searchParams.set(key, value);
    return url;
  }

  deadline(options: CallOptions | undefined): Deadline {
    return new Deadline(options?.signal, options?.timeoutMs ?? this.timeoutMs);
  }

  /** Send a request and return the answer's text (empty for 204); throw the typed error of an error answer. */
  async request(spec: RequestSpec, options?: CallOptions): Promise<string> {
    const body = spec.body === undefined ? undefined : requestBody(spec.body);
    const deadline = this.deadline(options);
    const what = `${spec.method} ${spec.path}`;
    const headers = {
      ...this.headers,
      ...spec.headers,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    };
    try {
      if (this.agent !== undefined) {
        const { status, text } = await this.send(this.agent, spec.method, this.url(spec.path), headers, body, deadline);
        if (status >= 400) throw answerError(status, text);
        return text;
      }
      const response = await this.fetch(this.url(spec.path), {
        method: spec.method,
        headers,
        ...(body === undefined ? {} : { body }),
        signal: deadline.signal,
      });
      const text = await response.text();
      if (!response.ok) throw answerError(response.status, text);
      return text;
    } catch (error) {
      if (error instanceof FactstrError) throw error;
      throw deadline.failure(error, what, spec.unsureIfLost === true);
    } finally {
      deadline.done();
    }
  }

  /** One request on a kept-alive socket of `agent`; resolves with the status and the whole body as text. */
  private send(
    agent: http.Agent,
    method: string,
    url: URL,
    headers: Readonly<Record<string, string>>,
    body: string | undefined,
    deadline: Deadline,
  ): Promise<{ status: number; text: string }> {
    const request = url.protocol === "https:" ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const outgoing = request(url, { method, headers, agent, signal: deadline.signal }, (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
        incoming.on("end", () => resolve({ status: incoming.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        incoming.on("error", reject);
      });
      outgoing.on("error", reject);
      outgoing.end(body);
    });
  }

  /** Open a server-sent event stream; the caller owns the deadline (and must call `done()`). */
  async openEventStream(
    path: string,
    params: Readonly<Record<string, string>>,
    extraHeaders: Readonly<Record<string, string>>,
    deadline: Deadline,
  ): Promise<ReadableStream<Uint8Array>> {
    try {
      const response = await this.fetch(this.url(path, params), {
        method: "GET",
        headers: { ...this.headers, ...extraHeaders, accept: "text/event-stream" },
        signal: deadline.signal,
      });
      if (!response.ok) throw answerError(response.status, await response.text());
      if (response.body === null) throw new BackendError(`GET ${path}: the answer has no body`);
      return response.body;
    } catch (error) {
      if (error instanceof FactstrError) throw error;
      throw deadline.failure(error, `GET ${path}`, false);
    }
  }
}

function answerError(status: number, text: string): FactstrError {
  const body = readErrorBody(text);
  if (body === null) {
    return new BackendError(`the server answered HTTP ${status} without a FACTSTR error body`, {
      code: "unexpected_response",
      status,
    });
  }
  return errorFromAnswer(status, body);
}
