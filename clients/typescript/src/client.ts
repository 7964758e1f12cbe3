/**
 * `FactstrClient`: the store contract (docs/contract.md) over the FACTSTR HTTP API, for Node.js 20+.
 */

import { BatchIterator } from "./batches.js";
import { AppendOutcomeUnknown, BackendError, EmptyAppend, InvalidInput, UnknownDurableStream } from "./errors.js";
import type { WritableValue } from "./json.js";
import { type BatchHandler, EventStream, type StreamOptions, type StreamTarget } from "./stream.js";
import { type CallOptions, type FetchFunction, Transport } from "./transport.js";
import type {
  AppendResult,
  CheckedEvents,
  DurableStreamInfo,
  EventQuery,
  JsonValue,
  NewEvent,
  QueryResult,
  SequenceNumberInput,
  StreamStart,
} from "./types.js";
import {
  durablePath,
  parseAnswer,
  readAppendResult,
  readDurableStreamInfo,
  readDurableStreamList,
  readHead,
  readQueryResult,
  requestBody,
} from "./wire.js";

export interface FactstrClientOptions {
  /** The server's URL, e.g. `http://127.0.0.1:7117` (a path prefix is kept). */
  readonly baseUrl: string | URL;
  /**
   * The namespace (an independent log of the server, docs/server.md "Namespaces") this client uses:
   * `"default"` (the default) is the server's unprefixed log.
   */
  readonly namespace?: string;
  /** Sent as `Authorization: Bearer <token>` when the server was started with `--token`. */
  readonly token?: string;
  /** How long a call may take, in milliseconds (30 000 by default); for a stream: its registration. */
  readonly timeoutMs?: number;
  /** A `fetch` to use instead of the global one. */
  readonly fetch?: FetchFunction;
}

/** Options of `append` and `appendIf`. */
export interface AppendOptions extends CallOptions {
  /**
   * Makes a retry safe (C9.4): when the log holds a batch appended with this key, the server answers with that
   * batch's result and writes nothing; the same key with other events is `InvalidInput`. With a key, an append
   * whose outcome is unknown (the connection died, the timeout passed) is sent again, with the same key, a few
   * times before `AppendOutcomeUnknown` is thrown. 1 to 128 letters, digits or `- _ . : ~ + / =`.
   */
  readonly idempotencyKey?: string;
}

/** Pauses between the attempts of an append with an idempotency key whose outcome is unknown, in milliseconds. */
export const APPEND_RETRY_PAUSES_MS: readonly number[] = [50, 250, 1000];
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:~+/=-]{1,128}$/;

/** Options of `streamAll` and `streamTo`. */
export interface LiveStreamOptions extends StreamOptions {
  /** `"end"` (the default: only what is committed from now on), `"beginning"`, or after a sequence number. */
  readonly start?: StreamStart;
}

/** Options of `streamAllDurable` and `streamToDurable`. */
export interface DurableStreamOptions extends StreamOptions {
  /** Where a name with no stored cursor (or with `reset`) starts: `"beginning"` by default. */
  readonly start?: StreamStart;
  /** Replace the stored cursor (and a different stored query) with `start`. */
  readonly reset?: boolean;
}

/** Options of {@link FactstrClient.createNamespace}. */
export interface CreateNamespaceOptions {
  /** The name (1 to 40 of `a-z`, `0-9`, `-`, `_`, starting with a letter or digit); the server picks one if absent. */
  readonly name?: string;
  /** Dropped by the server when unused (no request, no open stream) for `idleTimeoutSeconds`, and at its shutdown. */
  readonly ephemeral?: boolean;
  /** For an ephemeral namespace: 300 s by default. */
  readonly idleTimeoutSeconds?: number;
}

/** One namespace of a server, as `namespaces()` lists it. */
export interface NamespaceInfo {
  readonly name: string;
  readonly ephemeral: boolean;
  readonly idleTimeoutSeconds: number | null;
  /** Streams open in it on this server; `null` for a namespace the server has not opened since it started. */
  readonly openStreams: number | null;
}

const NAMESPACE_NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;

/** A client of one FACTSTR server. It holds no connection between calls, so it needs no closing. */
export class FactstrClient {
  private readonly transport: Transport;
  private readonly admin: Transport;
  private readonly options: FactstrClientOptions;
  /** The namespace this client uses (`"default"`: the server's unprefixed log). */
  readonly namespace: string;

  constructor(options: FactstrClientOptions) {
    // A namespace may come in the URL (`http://host:port/ns/NAME`), or as the option; they must agree.
    const server = new URL(options.baseUrl);
    const inUrl = /\/ns\/([^/]+)\/?$/.exec(server.pathname);
    if (inUrl !== null) server.pathname = server.pathname.slice(0, inUrl.index + 1);
    const fromUrl = inUrl?.[1];
    if (fromUrl !== undefined && options.namespace !== undefined && fromUrl !== options.namespace) {
      throw new InvalidInput(`namespace ${JSON.stringify(options.namespace)} disagrees with the URL's ${fromUrl}`);
    }
    const namespace = options.namespace ?? fromUrl ?? "default";
    checkNamespaceName(namespace);
    this.namespace = namespace;
    this.options = { ...options, baseUrl: server };
    this.admin = new Transport(this.options);
    this.transport =
      namespace === "default"
        ? this.admin
        : new Transport({ ...this.options, baseUrl: new URL(`ns/${namespace}/`, this.admin.baseUrl) });
  }

  /** The base URL of this client's log: the server's, plus `ns/NAME/` for a namespace. */
  get baseUrl(): string {
    return this.transport.baseUrl.href;
  }

  /**
   * Create a namespace on the server, an empty log of its own, and return a client bound to it (same token and
   * options). Needs the admin token when the server has one. `{ ephemeral: true }` makes it the server's to
   * drop when unused: the per-test store of a test suite. Throws `InvalidInput` (code `namespace_exists`,
   * `too_many_namespaces`) when the server refuses.
   */
  async createNamespace(create: CreateNamespaceOptions = {}, options?: CallOptions): Promise<FactstrClient> {
    if (create.name !== undefined) checkNamespaceName(create.name);
    const body: Record<string, WritableValue> = { ephemeral: create.ephemeral === true };
    if (create.name !== undefined) body["name"] = create.name;
    if (create.idleTimeoutSeconds !== undefined) body["idle_timeout_seconds"] = create.idleTimeoutSeconds;
    const text = await this.admin.request({ method: "POST", path: "/namespaces", body }, options);
    const { name } = readNamespace(parseAnswer(text, "namespace"));
    return new FactstrClient({ ...this.options, namespace: name });
  }

  /** Every namespace of the server, `default` first. Needs the admin token when the server has one. */
  async namespaces(options?: CallOptions): Promise<NamespaceInfo[]> {
    const text = await this.admin.request({ method: "GET", path: "/namespaces" }, options);
    const answer = parseAnswer(text, "namespace list");
    const list = (answer as { namespaces?: unknown }).namespaces;
    if (!Array.isArray(list)) throw new BackendError("the server sent a namespace list this client cannot read");
    return list.map(readNamespace);
  }

  /**
   * Drop a namespace and everything in it (by default this client's own). The server refuses while it has
   * open streams (`InvalidInput` with code `namespace_busy`) unless `force: true`, which ends them.
   */
  async dropNamespace(name: string = this.namespace, drop: { force?: boolean } = {}, options?: CallOptions): Promise<void> {
    checkNamespaceName(name);
    const path = `/namespaces/${name}${drop.force === true ? "?force=true" : ""}`;
    await this.admin.request({ method: "DELETE", path }, options);
  }

  /**
   * Commit the events atomically as one batch with consecutive sequence numbers (C4).
   * Throws `EmptyAppend` for no events and `InvalidInput` for bad ones (nothing committed then), and
   * `AppendOutcomeUnknown` when the connection died (or the timeout passed) while the append was in flight.
   */
  async append<E extends readonly NewEvent<unknown>[]>(
    events: E & CheckedEvents<E>,
    options?: AppendOptions,
  ): Promise<AppendResult> {
    checkEvents(events);
    return this.sendAppend("/append", { events: newEvents(events) }, options);
  }

  /**
   * Commit like `append`, but only if the context's current version (C3, `min_sequence_number` ignored) is
   * `expectedContextVersion` (`null`: "no matching event yet"). Otherwise throws
   * `ConditionalAppendConflict` with `expected` and `actual`, and nothing is committed (C5).
   */
  async appendIf<E extends readonly NewEvent<unknown>[]>(
    events: E & CheckedEvents<E>,
    contextQuery: EventQuery,
    expectedContextVersion: SequenceNumberInput | null,
    options?: AppendOptions,
  ): Promise<AppendResult> {
    checkEvents(events);
    const body = {
      events: newEvents(events),
      context_query: eventQuery(contextQuery),
      expected_context_version: expectedContextVersion,
    };
    return this.sendAppend("/append_if", body, options);
  }

  /**
   * Send an append; with an idempotency key, send it again while its outcome is unknown. The server commits a
   * key once, so a retry either commits the batch or answers with the result of the attempt that did. After the
   * last attempt the caller gets AppendOutcomeUnknown, never a plain connection failure: an earlier attempt may
   * have committed.
   */
  private async sendAppend(
    path: string,
    body: WritableValue,
    options: AppendOptions | undefined,
  ): Promise<AppendResult> {
    const key = options?.idempotencyKey;
    if (key === undefined) {
      const text = await this.transport.request({ method: "POST", path, body, unsureIfLost: true }, options);
      return readAppendResult(parseAnswer(text, "append result"));
    }
    if (typeof key !== "string" || !IDEMPOTENCY_KEY.test(key)) {
      throw new InvalidInput(
        "idempotencyKey must be 1 to 128 characters, each a letter, a digit or one of - _ . : ~ + / =",
      );
    }
    const spec = { method: "POST", path, body, unsureIfLost: true, headers: { "idempotency-key": key } } as const;
    let unknown: AppendOutcomeUnknown | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        return readAppendResult(parseAnswer(await this.transport.request(spec, options), "append result"));
      } catch (error) {
        if (error instanceof AppendOutcomeUnknown) unknown = error;
        else if (unknown === undefined || !(error instanceof BackendError)) throw error;
      }
      const pause = APPEND_RETRY_PAUSES_MS[attempt];
      if (pause === undefined || options?.signal?.aborted === true) throw unknown;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /**
   * Read the matching events after `min_sequence_number`, in order (C3; `limit` and `backwards`: C8).
   * `T` declares the payloads' type (`query<SlotReserved>(...)`); it is not checked, as with `JSON.parse`.
   */
  async query<T = JsonValue>(query: EventQuery = {}, options?: CallOptions): Promise<QueryResult<T>> {
    const text = await this.transport.request({ method: "POST", path: "/query", body: eventQuery(query) }, options);
    return readQueryResult(parseAnswer(text, "query result")) as QueryResult<T>;
  }

  /** The highest committed sequence number, `null` for an empty log. */
  async head(options?: CallOptions): Promise<bigint | null> {
    const text = await this.transport.request({ method: "GET", path: "/head" }, options);
    return readHead(parseAnswer(text, "head"));
  }

  /**
   * Follow every committed batch (C6). With a handler: resolves to the stream once the server registered it.
   * Without one: the batches as an async iterator (`for await (const batch of client.streamAll())`).
   */
  streamAll<T = JsonValue>(handler: BatchHandler<T>, options?: LiveStreamOptions): Promise<EventStream>;
  streamAll<T = JsonValue>(options?: LiveStreamOptions): BatchIterator<T>;
  streamAll<T>(
    handlerOrOptions?: BatchHandler<T> | LiveStreamOptions,
    options: LiveStreamOptions = {},
  ): Promise<EventStream> | BatchIterator<T> {
    return typeof handlerOrOptions === "function"
      ? this.streamTo({}, handlerOrOptions, options)
      : this.streamTo<T>({}, handlerOrOptions);
  }

  /**
   * Follow the batches matching `query`, each delivered with exactly its matching records. With a handler:
   * one handler call per batch; resolves once the server registered the stream. Without one: the batches as
   * an async iterator (`for await (const batch of client.streamTo(query))`).
   */
  streamTo<T = JsonValue>(
    query: EventQuery,
    handler: BatchHandler<T>,
    options?: LiveStreamOptions,
  ): Promise<EventStream>;
  streamTo<T = JsonValue>(query: EventQuery, options?: LiveStreamOptions): BatchIterator<T>;
  streamTo<T>(
    query: EventQuery,
    handlerOrOptions?: BatchHandler<T> | LiveStreamOptions,
    maybeOptions: LiveStreamOptions = {},
  ): Promise<EventStream> | BatchIterator<T> {
    const options = typeof handlerOrOptions === "function" ? maybeOptions : (handlerOrOptions ?? {});
    const target = (): StreamTarget => {
      const params = { query: requestBody(eventQuery(query)) };
      return {
        kind: "live",
        path: "/streams/live",
        params: { ...params, start: startParam(options.start ?? "end") },
        // Last-Event-ID carries the position; `start` would only repeat it.
        resumeParams: () => params,
      };
    };
    return this.follow(target, handlerOrOptions, options);
  }

  /**
   * Follow every batch under a durable name: replay after its stored cursor, then live (C6.1). With a handler
   * or as an async iterator, as {@link streamToDurable}.
   */
  streamAllDurable<T = JsonValue>(
    name: string,
    handler: BatchHandler<T>,
    options?: DurableStreamOptions,
  ): Promise<EventStream>;
  streamAllDurable<T = JsonValue>(name: string, options?: DurableStreamOptions): BatchIterator<T>;
  streamAllDurable<T>(
    name: string,
    handlerOrOptions?: BatchHandler<T> | DurableStreamOptions,
    options: DurableStreamOptions = {},
  ): Promise<EventStream> | BatchIterator<T> {
    return typeof handlerOrOptions === "function"
      ? this.streamToDurable(name, {}, handlerOrOptions, options)
      : this.streamToDurable<T>(name, {}, handlerOrOptions);
  }

  /**
   * Follow the batches matching `query` under a durable name. The stored cursor moves only after a batch was
   * handled: the handler returned (or its promise resolved), or, for an async iterator, the loop asked for the
   * next batch. A handler that throws (or a loop left in the middle of a batch) stops the stream with the
   * cursor before that batch; registering again delivers it again. Throws (or, iterating, `next()` rejects
   * with) `DurableStreamActive` while another stream holds the name and `DurableStreamMismatch` for a
   * different stored query (unless `reset: true`).
   */
  streamToDurable<T = JsonValue>(
    name: string,
    query: EventQuery,
    handler: BatchHandler<T>,
    options?: DurableStreamOptions,
  ): Promise<EventStream>;
  streamToDurable<T = JsonValue>(name: string, query: EventQuery, options?: DurableStreamOptions): BatchIterator<T>;
  streamToDurable<T>(
    name: string,
    query: EventQuery,
    handlerOrOptions?: BatchHandler<T> | DurableStreamOptions,
    maybeOptions: DurableStreamOptions = {},
  ): Promise<EventStream> | BatchIterator<T> {
    const options = typeof handlerOrOptions === "function" ? maybeOptions : (handlerOrOptions ?? {});
    const target = (): StreamTarget => {
      const encodedQuery = requestBody(eventQuery(query));
      const params: Record<string, string> = { query: encodedQuery, start: startParam(options.start ?? "beginning") };
      if (options.reset === true) params["reset"] = "true";
      return {
        kind: "durable",
        name,
        path: durablePath("/streams/durable/", name),
        params,
        // After a lost connection the stored cursor decides; `start` only matters if the server lost it, and
        // then the last handled position is the right place. Never `reset` again: it would rewind.
        resumeParams: (position) => ({ query: encodedQuery, start: position.toString() }),
      };
    };
    return this.follow(target, handlerOrOptions, options);
  }

  /** Every stored durable cursor. */
  async durableStreams(options?: CallOptions): Promise<DurableStreamInfo[]> {
    const text = await this.transport.request({ method: "GET", path: "/durable_streams" }, options);
    return readDurableStreamList(parseAnswer(text, "durable stream list"));
  }

  /** One stored durable cursor, or `null` when the name has none. */
  async durableStream(name: string, options?: CallOptions): Promise<DurableStreamInfo | null> {
    try {
      const path = durablePath("/durable_streams/", name);
      const text = await this.transport.request({ method: "GET", path }, options);
      return readDurableStreamInfo(parseAnswer(text, "durable stream info"));
    } catch (error) {
      if (error instanceof UnknownDurableStream) return null;
      throw error;
    }
  }

  /** Set a stored cursor: the next registration resumes after `position` (0: from the beginning). */
  async resetDurableStream(name: string, position: SequenceNumberInput, options?: CallOptions): Promise<void> {
    await this.transport.request(
      { method: "POST", path: `${durablePath("/durable_streams/", name)}/reset`, body: { position } },
      options,
    );
  }

  /** Forget a stored cursor (nothing happens if there is none); throws `DurableStreamActive` while held. */
  async deleteDurableStream(name: string, options?: CallOptions): Promise<void> {
    await this.transport.request({ method: "DELETE", path: durablePath("/durable_streams/", name) }, options);
  }

  /**
   * A stream with a handler, or an async iterator. Bad arguments (`target()` throws) reject the promise of
   * the first, and throw at once for the second, before anything is sent.
   */
  private follow<T>(
    target: () => StreamTarget,
    handler: BatchHandler<T> | StreamOptions | undefined,
    options: StreamOptions,
  ): Promise<EventStream> | BatchIterator<T> {
    if (typeof handler === "function") return this.open(target, handler as BatchHandler, options);
    const checked = target();
    // A failure ends the loop with that error (next() rejects): no need to warn about it as well.
    const quiet = { ...options, onError: options.onError ?? (() => undefined) };
    return new BatchIterator<T>((deliver) => new EventStream(this.transport, checked, deliver, quiet));
  }

  private async open(target: () => StreamTarget, handler: BatchHandler, options: StreamOptions): Promise<EventStream> {
    const stream = new EventStream(this.transport, target(), handler, options);
    await stream.open();
    return stream;
  }
}

function checkNamespaceName(name: string): void {
  if (typeof name !== "string" || !NAMESPACE_NAME.test(name)) {
    throw new InvalidInput(
      `a namespace name is 1 to 40 characters: lower-case ASCII letters, digits, '-' and '_', starting with a ` +
        `letter or a digit; got ${JSON.stringify(name)}`,
    );
  }
}

function readNamespace(value: unknown): NamespaceInfo {
  const item = value as Record<string, unknown> | null;
  if (item === null || typeof item !== "object" || typeof item["name"] !== "string") {
    throw new BackendError("the server sent a namespace this client cannot read");
  }
  const idle = item["idle_timeout_seconds"];
  const open = item["open_streams"];
  return {
    name: item["name"],
    ephemeral: item["ephemeral"] === true,
    idleTimeoutSeconds: typeof idle === "number" ? idle : null,
    openStreams: typeof open === "number" ? open : typeof open === "bigint" ? Number(open) : null,
  };
}

function checkEvents(events: readonly NewEvent<unknown>[]): void {
  // C4: an empty append is refused before anything else is looked at; no need to ask the server.
  if (Array.isArray(events) && events.length === 0) throw new EmptyAppend();
}

/**
 * The values go to the server as they are: the server validates them (C7) exactly as a local store would,
 * and refuses unknown fields rather than dropping them. The serializer refuses what is not JSON.
 */
function newEvents(events: readonly NewEvent<unknown>[]): WritableValue {
  return events as unknown as WritableValue;
}

function eventQuery(query: EventQuery): WritableValue {
  return query as unknown as WritableValue;
}

function startParam(start: StreamStart): string {
  return typeof start === "string" ? start : start.toString();
}

