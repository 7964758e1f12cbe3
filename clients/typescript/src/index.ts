/**
 * `@factstr/client`: a TypeScript client for the FACTSTR event store's HTTP server (Node.js 20+).
 * Everything exported here is the public API; other modules are internal.
 */

export {
  type DurableStreamOptions,
  FactstrClient,
  type FactstrClientOptions,
  type LiveStreamOptions,
} from "./client.js";
export {
  AppendOutcomeUnknown,
  BackendError,
  ConditionalAppendConflict,
  DurableStreamActive,
  DurableStreamMismatch,
  EmptyAppend,
  type ErrorCode,
  FactstrError,
  Forbidden,
  InvalidInput,
  NotFound,
  PayloadTooLarge,
  RequestTimeout,
  StoreClosed,
  StreamEnded,
  TooManyStreams,
  Unauthorized,
  UnknownDurableStream,
} from "./errors.js";
export { type BatchHandler, EventStream, type StreamClosed, type StreamOptions } from "./stream.js";
export type { CallOptions, FetchFunction } from "./transport.js";
export type {
  AppendResult,
  DurableStreamInfo,
  EventFilter,
  EventQuery,
  EventRecord,
  JsonValue,
  NewEvent,
  QueryResult,
  SequenceNumberInput,
  StoredEventQuery,
  StreamStart,
} from "./types.js";
