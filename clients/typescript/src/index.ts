/**
 * `@factstr/client`: a TypeScript client for the FACTSTR event store's HTTP server (Node.js 20+).
 * Everything exported here is the public API; other modules are internal.
 */

export { BatchIterator } from "./batches.js";
export {
  APPEND_RETRY_PAUSES_MS,
  type AppendOptions,
  type CreateNamespaceOptions,
  type DurableStreamOptions,
  FactstrClient,
  type FactstrClientOptions,
  type LiveStreamOptions,
  type NamespaceInfo,
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
  NamespaceForbidden,
  NotFound,
  PayloadTooLarge,
  RequestTimeout,
  StoreClosed,
  StreamEnded,
  TooManyStreams,
  Unauthorized,
  UnknownDurableStream,
  UnknownNamespace,
} from "./errors.js";
export {
  LocalServer,
  type LocalClientOptions,
  ServerStartError,
  startServer,
  type StartServerOptions,
} from "./local-server.js";
export {
  bigintReplacer,
  MAX_SEQUENCE_NUMBER,
  nextSequenceNumber,
  sequenceNumberFromJson,
  sequenceNumberToJson,
} from "./sequence.js";
export { type BatchHandler, EventStream, type StreamClosed, type StreamOptions } from "./stream.js";
export type { CallOptions, FetchFunction } from "./transport.js";
export type {
  AppendResult,
  CheckedEvents,
  DurableStreamInfo,
  EventFilter,
  EventQuery,
  EventRecord,
  JsonPayload,
  JsonValue,
  NewEvent,
  QueryResult,
  SequenceNumberInput,
  StoredEventQuery,
  StreamStart,
} from "./types.js";
