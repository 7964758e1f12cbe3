/**
 * The one error tree of the client, mirroring the server's stable error codes.
 *
 * ```text
 * FactstrError                       every error the client throws (except an AbortSignal's own reason)
 * ├── ConditionalAppendConflict      an outcome: the context moved; re-read and decide again
 * ├── DurableStreamActive            an outcome: another stream holds the durable name
 * ├── InvalidInput                   a programmer error: bad arguments, nothing was committed
 * │   ├── EmptyAppend                append() / appendIf() with no events
 * │   ├── DurableStreamMismatch      a durable name registered again with another query
 * │   ├── UnknownDurableStream       admin call on a durable name with no stored cursor
 * │   └── PayloadTooLarge            the request body is above the server's limit
 * ├── Unauthorized                   the bearer token is missing or wrong
 * ├── Forbidden                      the server does not answer to this Host name (or this page's origin)
 * ├── TooManyStreams                 this client address has the server's maximum of open streams
 * ├── NotFound                       no such route or stream id on this server (or wrong method)
 * ├── StreamEnded                    the server refused to go on with a stream
 * ├── RequestTimeout                 no answer within `timeoutMs`
 * └── BackendError                   infrastructure: the database, the network or the server failed
 *     ├── StoreClosed                the server's store is closed
 *     └── AppendOutcomeUnknown       the connection died while an append was committing
 * ```
 *
 * Branch with `instanceof` or on `code`, never on the message.
 */

import type { components } from "./generated/openapi.js";
import type { EventRecord } from "./types.js";

/** The codes the server sends (openapi.json), plus the client's own for failures it detects itself. */
export type ServerErrorCode = components["schemas"]["Error"]["code"];
export type ErrorCode = ServerErrorCode | "connection_failed" | "unexpected_response" | "timeout" | "stream_ended";

/** Base class of every error thrown by the client. */
export class FactstrError extends Error {
  /** The stable code: the server's, or the client's own. */
  readonly code: ErrorCode;
  /** The HTTP status of the answer, when there was one. */
  readonly status: number | undefined;

  constructor(message: string, options: { code: ErrorCode; status?: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.status = options.status;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

type Options = { status?: number; cause?: unknown };

/**
 * Thrown by `appendIf` when the context's current version is not the expected one; nothing was committed.
 * `facts` are the context's facts committed after `expected` up to `actual`, oldest first (at most 100;
 * `truncated` is true when there were more), read in the transaction that found the conflict.
 */
export class ConditionalAppendConflict extends FactstrError {
  constructor(
    readonly expected: bigint | null,
    readonly actual: bigint | null,
    options: Options = {},
    readonly facts: readonly EventRecord[] = [],
    readonly truncated: boolean = false,
  ) {
    super(`conditional append conflict: expected context version ${expected}, actual ${actual}`, {
      ...options,
      code: "conditional_append_conflict",
    });
  }
}

/** Thrown when another stream (in any process) holds the durable name. */
export class DurableStreamActive extends FactstrError {
  constructor(message: string, options: Options = {}) {
    super(message, { ...options, code: "durable_stream_active" });
  }
}

/** Thrown for arguments that break the contract (C7); nothing was committed. */
export class InvalidInput extends FactstrError {
  constructor(message: string, options: Options & { code?: ErrorCode } = {}) {
    super(message, { ...options, code: options.code ?? "invalid_input" });
  }
}

/** Thrown by `append` and `appendIf` when given no events. */
export class EmptyAppend extends InvalidInput {
  constructor(message = "append needs at least one event", options: Options = {}) {
    super(message, { ...options, code: "empty_append" });
  }
}

/** Thrown when a durable name is registered again with a different query (pass `reset: true` to replace it). */
export class DurableStreamMismatch extends InvalidInput {
  constructor(message: string, options: Options = {}) {
    super(message, { ...options, code: "durable_stream_mismatch" });
  }
}

/** Thrown by cursor admin calls for a durable name that has no stored cursor. */
export class UnknownDurableStream extends InvalidInput {
  constructor(message: string, options: Options = {}) {
    super(message, { ...options, code: "unknown_durable_stream" });
  }
}

/** Thrown when a request body is above the server's size limit. */
export class PayloadTooLarge extends InvalidInput {
  constructor(message: string, options: Options = {}) {
    super(message, { ...options, code: "payload_too_large" });
  }
}

/** Thrown when the server wants a bearer token and got none or a wrong one. */
export class Unauthorized extends FactstrError {
  constructor(message: string, options: Options = {}) {
    super(message, { ...options, code: "unauthorized" });
  }
}

/**
 * Thrown when the server refuses the request before looking at it: its Host header names no address of the
 * server (`host_not_allowed`: use the server's own address in `baseUrl`, or start it with `--allowed-host`),
 * or it comes from a browser page of another origin (`origin_not_allowed`).
 */
export class Forbidden extends FactstrError {
  constructor(message: string, options: Options & { code?: "host_not_allowed" | "origin_not_allowed" } = {}) {
    super(message, { ...options, code: options.code ?? "host_not_allowed" });
  }
}

/** Thrown by a client of a namespace that does not exist on the server (or was dropped). */
export class UnknownNamespace extends InvalidInput {
  constructor(message: string, options: Options = {}) {
    super(message, { ...options, code: "unknown_namespace" });
  }
}

/** Thrown when the token does not reach the namespace (or namespace administration) the request is for. */
export class NamespaceForbidden extends FactstrError {
  constructor(message: string, options: Options = {}) {
    super(message, { ...options, code: "forbidden" });
  }
}

/** Thrown when this client address already has the server's maximum number of open streams. */
export class TooManyStreams extends FactstrError {
  constructor(message: string, options: Options = {}) {
    super(message, { ...options, code: "too_many_streams" });
  }
}

/** Thrown when the server has no such route or stream id, or refuses the method. */
export class NotFound extends FactstrError {
  constructor(message: string, options: Options & { code?: "not_found" | "method_not_allowed" } = {}) {
    super(message, { ...options, code: options.code ?? "not_found" });
  }
}

/** A stream's failure when the server refused to resume or continue it. */
export class StreamEnded extends FactstrError {
  constructor(message: string, options: Options = {}) {
    super(message, { ...options, code: "stream_ended" });
  }
}

/** Thrown when the server did not answer within the client's `timeoutMs`. */
export class RequestTimeout extends FactstrError {
  constructor(message: string, options: Options = {}) {
    super(message, { ...options, code: "timeout" });
  }
}

/** Thrown when the database, the network or the server failed; the request may be retried. */
export class BackendError extends FactstrError {
  constructor(message: string, options: Options & { code?: ErrorCode } = {}) {
    super(message, { ...options, code: options.code ?? "backend_error" });
  }
}

/** Thrown when the server's store was closed. */
export class StoreClosed extends BackendError {
  constructor(message: string, options: Options = {}) {
    super(message, { ...options, code: "store_closed" });
  }
}

/**
 * Thrown when the connection died while an append was committing: it may or may not have been committed.
 * Re-read (for example the context of an `appendIf`) before retrying, or the events may be stored twice.
 */
export class AppendOutcomeUnknown extends BackendError {
  constructor(message: string, options: Options = {}) {
    super(message, { ...options, code: "append_outcome_unknown" });
  }
}

/** The error an error answer of the server stands for. */
export function errorFromAnswer(
  status: number,
  body: {
    code: string;
    message: string;
    expected: bigint | null;
    actual: bigint | null;
    facts: readonly EventRecord[];
    truncated: boolean;
  },
): FactstrError {
  const options = { status };
  const message = body.message;
  switch (body.code as ServerErrorCode) {
    case "conditional_append_conflict":
      return new ConditionalAppendConflict(body.expected, body.actual, options, body.facts, body.truncated);
    case "durable_stream_active":
      return new DurableStreamActive(message, options);
    case "invalid_input":
      return new InvalidInput(message, options);
    case "empty_append":
      return new EmptyAppend(message, options);
    case "durable_stream_mismatch":
      return new DurableStreamMismatch(message, options);
    case "unknown_durable_stream":
      return new UnknownDurableStream(message, options);
    case "payload_too_large":
      return new PayloadTooLarge(message, options);
    case "unauthorized":
      return new Unauthorized(message, options);
    case "too_many_streams":
      return new TooManyStreams(message, options);
    case "host_not_allowed":
    case "origin_not_allowed":
      return new Forbidden(message, { ...options, code: body.code as "host_not_allowed" | "origin_not_allowed" });
    case "unsupported_media_type":
      return new InvalidInput(message, { ...options, code: "unsupported_media_type" });
    case "forbidden":
      return new NamespaceForbidden(message, options);
    case "unknown_namespace":
      return new UnknownNamespace(message, options);
    case "namespace_exists":
    case "namespace_busy":
    case "too_many_namespaces":
    case "namespaces_unsupported":
      return new InvalidInput(message, { ...options, code: body.code as ErrorCode });
    case "request_timeout":
      return new RequestTimeout(message, options);
    case "not_found":
      return new NotFound(message, options);
    case "method_not_allowed":
      return new NotFound(message, { ...options, code: "method_not_allowed" });
    case "store_closed":
      return new StoreClosed(message, options);
    case "append_outcome_unknown":
      return new AppendOutcomeUnknown(message, options);
    case "backend_error":
    case "internal_error":
      return new BackendError(`${message} (HTTP ${status})`, { ...options, code: body.code as ErrorCode });
    default:
      // A code newer than this client: still an error, still carrying what the server said.
      return new BackendError(`${message} (${body.code}, HTTP ${status})`, options);
  }
}
