/**
 * Reading the server's answers into the client's values, and writing requests.
 *
 * Every answer is parsed losslessly (sequence numbers as `bigint`, see json.ts) and checked for the shape the
 * OpenAPI document promises, so a wrong server (or a proxy's HTML page) becomes a clear BackendError
 * instead of `undefined` showing up later in user code. The field names are pinned to the generated
 * OpenAPI types at compile time (the `_pinned` checks below): a renamed field breaks `tsc`, not production.
 */

import { BackendError, InvalidInput } from "./errors.js";
import type { components } from "./generated/openapi.js";
import { inClientWords } from "./messages.js";
import { JsonError, type JsonValue, type LosslessValue, parseJson, stringifyJson, type WritableValue } from "./json.js";
import type {
  AppendResult,
  DurableStreamInfo,
  EventFilter,
  EventQuery,
  EventRecord,
  NewEvent,
  QueryResult,
  StoredEventQuery,
} from "./types.js";

type Schemas = components["schemas"];
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
export const _pinned: [
  SameKeys<NewEvent, Schemas["NewEvent"]>,
  SameKeys<EventFilter, Schemas["EventFilter"]>,
  SameKeys<EventQuery, Schemas["EventQuery"]>,
  SameKeys<StoredEventQuery, Schemas["EventQuery"]>,
  SameKeys<EventRecord, Schemas["EventRecord"]>,
  SameKeys<QueryResult, Schemas["QueryResult"]>,
  SameKeys<AppendResult, Schemas["AppendResult"]>,
  SameKeys<DurableStreamInfo, Schemas["DurableStreamInfo"]>,
] = [true, true, true, true, true, true, true, true];

/** Members whose integers are sequence numbers (or differences of them): read as `bigint`. */
const BIGINT_KEYS: ReadonlySet<string> = new Set([
  "sequence_number",
  "last_returned_sequence_number",
  "current_context_version",
  "first_sequence_number",
  "last_sequence_number",
  "min_sequence_number",
  "max_sequence_number",
  "head",
  "cursor",
  "lag",
  "position",
  "expected",
  "actual",
]);

/** Members that hold user data: ordinary JSON, whatever keys they contain. */
const OPAQUE_KEYS: ReadonlySet<string> = new Set(["payload", "payload_predicates"]);

type WireObject = { readonly [key: string]: LosslessValue };

/** Parse an answer's text; `what` names it in the error. */
export function parseAnswer(text: string, what: string): LosslessValue {
  try {
    return parseJson(text, { bigintKeys: BIGINT_KEYS, opaqueKeys: OPAQUE_KEYS });
  } catch (error) {
    throw new BackendError(`the server's ${what} is not JSON: ${(error as Error).message}`, {
      code: "unexpected_response",
      cause: error,
    });
  }
}

/** Write a request body; a value JSON cannot hold is the caller's mistake (InvalidInput). */
export function requestBody(value: WritableValue): string {
  try {
    return stringifyJson(value, OPAQUE_KEYS);
  } catch (error) {
    if (error instanceof JsonError) throw new InvalidInput(`not a JSON value: ${error.message}`, { cause: error });
    throw error;
  }
}

/**
 * The path of a durable name under `prefix`, percent-encoded so that the server sees exactly this name.
 *
 * URLs resolve the path segments `.` and `..` (also written `%2E`) before a request is sent, so those two
 * names cannot be reached through `fetch`; they are refused here instead of reaching another route. A name
 * with a lone surrogate is not a string the server could receive either.
 */
export function durablePath(prefix: string, name: string): string {
  if (name === "." || name === "..") {
    throw new InvalidInput(`the durable name ${JSON.stringify(name)} cannot be written in a URL path`);
  }
  try {
    return prefix + encodeURIComponent(name);
  } catch (error) {
    throw new InvalidInput("a durable name must be well-formed Unicode (no lone surrogates)", { cause: error });
  }
}

class Shape {
  constructor(private readonly what: string) {}

  fail(detail: string): never {
    throw new BackendError(`the server's ${this.what} is not what this client expects: ${detail}`, {
      code: "unexpected_response",
    });
  }

  object(value: LosslessValue | undefined, where: string): WireObject {
    if (typeof value !== "object" || value === null || Array.isArray(value)) this.fail(`${where} is not an object`);
    return value as WireObject;
  }

  array(value: LosslessValue | undefined, where: string): readonly LosslessValue[] {
    if (!Array.isArray(value)) this.fail(`${where} is not an array`);
    return value;
  }

  bigint(value: LosslessValue | undefined, where: string): bigint {
    if (typeof value !== "bigint") this.fail(`${where} is not an integer`);
    return value;
  }

  bigintOrNull(value: LosslessValue | undefined, where: string): bigint | null {
    return value === null || value === undefined ? null : this.bigint(value, where);
  }

  number(value: LosslessValue | undefined, where: string): number {
    if (typeof value !== "number") this.fail(`${where} is not a number`);
    return value;
  }

  string(value: LosslessValue | undefined, where: string): string {
    if (typeof value !== "string") this.fail(`${where} is not a string`);
    return value;
  }

  boolean(value: LosslessValue | undefined, where: string): boolean {
    if (typeof value !== "boolean") this.fail(`${where} is not a boolean`);
    return value;
  }
}

function record(shape: Shape, value: LosslessValue | undefined, where: string): EventRecord {
  const wire = shape.object(value, where);
  return {
    sequence_number: shape.bigint(wire["sequence_number"], `${where}.sequence_number`),
    occurred_at: shape.string(wire["occurred_at"], `${where}.occurred_at`),
    event_type: shape.string(wire["event_type"], `${where}.event_type`),
    // Opaque members were parsed by JSON.parse, so they hold no bigint.
    payload: (wire["payload"] ?? null) as JsonValue,
  };
}

/** Read a list of records (a query's or one stream batch's). */
export function readRecords(value: LosslessValue, what: string): EventRecord[] {
  const shape = new Shape(what);
  return shape.array(value, "the batch").map((item, index) => record(shape, item, `record ${index}`));
}

export function readQueryResult(value: LosslessValue): QueryResult {
  const shape = new Shape("query result");
  const wire = shape.object(value, "the answer");
  return {
    event_records: shape
      .array(wire["event_records"], "event_records")
      .map((item, index) => record(shape, item, `event_records[${index}]`)),
    last_returned_sequence_number: shape.bigintOrNull(
      wire["last_returned_sequence_number"],
      "last_returned_sequence_number",
    ),
    current_context_version: shape.bigintOrNull(wire["current_context_version"], "current_context_version"),
    head: shape.bigintOrNull(wire["head"], "head"),
  };
}

export function readAppendResult(value: LosslessValue): AppendResult {
  const shape = new Shape("append result");
  const wire = shape.object(value, "the answer");
  return {
    first_sequence_number: shape.bigint(wire["first_sequence_number"], "first_sequence_number"),
    last_sequence_number: shape.bigint(wire["last_sequence_number"], "last_sequence_number"),
    committed_count: shape.number(wire["committed_count"], "committed_count"),
  };
}

export function readHead(value: LosslessValue): bigint | null {
  const shape = new Shape("head");
  return shape.bigintOrNull(shape.object(value, "the answer")["head"], "head");
}

function storedQuery(shape: Shape, value: LosslessValue | undefined): StoredEventQuery {
  const wire = shape.object(value, "query");
  const limit = wire["limit"];
  return {
    filters: (wire["filters"] ?? null) as EventFilter[] | null,
    min_sequence_number: shape.bigintOrNull(wire["min_sequence_number"], "query.min_sequence_number"),
    limit: limit === null || limit === undefined ? null : Number(limit),
    backwards: wire["backwards"] === true,
    max_sequence_number: shape.bigintOrNull(wire["max_sequence_number"], "query.max_sequence_number"),
  };
}

function durableInfo(shape: Shape, value: LosslessValue | undefined): DurableStreamInfo {
  const wire = shape.object(value, "durable stream");
  return {
    name: shape.string(wire["name"], "name"),
    query: storedQuery(shape, wire["query"]),
    cursor: shape.bigintOrNull(wire["cursor"], "cursor"),
    head: shape.bigintOrNull(wire["head"], "head"),
    lag: shape.bigint(wire["lag"], "lag"),
    active: shape.boolean(wire["active"], "active"),
  };
}

export function readDurableStreamInfo(value: LosslessValue): DurableStreamInfo {
  return durableInfo(new Shape("durable stream info"), value);
}

export function readDurableStreamList(value: LosslessValue): DurableStreamInfo[] {
  const shape = new Shape("durable stream list");
  return shape
    .array(shape.object(value, "the answer")["durable_streams"], "durable_streams")
    .map((item) => durableInfo(shape, item));
}

/** The `ready` message that opens every stream. */
export interface StreamReady {
  readonly stream_id: string;
  readonly kind: Schemas["StreamReady"]["kind"];
  readonly position: bigint;
  readonly heartbeat_seconds: number;
  /** A durable stream's first acknowledgement token; null for a live stream. */
  readonly stream_token: string | null;
}

export function readStreamReady(value: LosslessValue): StreamReady {
  const shape: Shape = new Shape("stream's ready message");
  const wire = shape.object(value, "ready");
  const kind = shape.string(wire["kind"], "kind");
  if (kind !== "live" && kind !== "durable") shape.fail(`kind is ${kind}`);
  return {
    stream_id: shape.string(wire["stream_id"], "stream_id"),
    kind,
    position: shape.bigint(wire["position"], "position"),
    heartbeat_seconds: shape.number(wire["heartbeat_seconds"], "heartbeat_seconds"),
    stream_token: typeof wire["stream_token"] === "string" ? wire["stream_token"] : null,
  };
}

export function readProgress(value: LosslessValue): bigint {
  const shape = new Shape("stream's progress message");
  return shape.bigint(shape.object(value, "progress")["position"], "position");
}

/** An error answer's body, or null when the body is not a FACTSTR error. */
export function readErrorBody(text: string): {
  code: string;
  message: string;
  expected: bigint | null;
  actual: bigint | null;
  facts: readonly EventRecord[];
  truncated: boolean;
} | null {
  let value: LosslessValue;
  try {
    value = parseJson(text, { bigintKeys: BIGINT_KEYS, opaqueKeys: OPAQUE_KEYS });
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const wire = value as WireObject;
  const code = wire["code"];
  if (typeof code !== "string") return null;
  // An RFC 9457 problem: `detail` is the text for people; `message` repeats it for older servers' sake.
  const detail = wire["detail"];
  const message = typeof detail === "string" ? detail : wire["message"];
  const expected = wire["expected"];
  const actual = wire["actual"];
  return {
    code,
    // The server's words are Python's (`reset=True`, `'name'`): the reader of this error writes TypeScript.
    message: typeof message === "string" ? inClientWords(message) : code,
    expected: typeof expected === "bigint" ? expected : null,
    actual: typeof actual === "bigint" ? actual : null,
    facts: conflictFacts(wire["facts"]),
    truncated: wire["truncated"] === true,
  };
}

/** The facts of a conflict's answer (none when absent: an older server). */
function conflictFacts(value: LosslessValue | undefined): EventRecord[] {
  if (value === undefined || value === null) return [];
  return readRecords(value, "conflict's facts");
}
