/**
 * The values of the FACTSTR contract (docs/contract.md, C1 and C8) as the client exposes them.
 *
 * Field names are the contract's own words, exactly as they travel over HTTP. Every sequence number a
 * response carries is a `bigint`, so a log can grow past 2^53 without a silent rounding; where the client
 * takes a sequence number it accepts a `bigint` or a safe-integer `number`.
 */

import type { JsonValue } from "./json.js";

export type { JsonValue } from "./json.js";

/** A sequence number given to the client: a `bigint`, or a `number` that is a safe integer. */
export type SequenceNumberInput = bigint | number;

/**
 * A fact to append. `T` is the payload's type: any JSON value by default, or an interface of your own
 * (`NewEvent<SlotReserved>`); `append` refuses, at compile time, payload types that are not JSON (a `Date`,
 * a `Map`, a `bigint`, a function, a class instance with methods).
 */
export interface NewEvent<T = JsonValue> {
  readonly event_type: string;
  readonly payload: T;
}

/** What cannot travel as JSON (and would be refused with `InvalidInput` at run time). */
type NotJson =
  | bigint
  | symbol
  | ((...args: never[]) => unknown)
  | Date
  | Map<unknown, unknown>
  | Set<unknown>
  | RegExp
  | Promise<unknown>;

/**
 * `T` itself where it is JSON, with `never` in place of each part that is not, so that the compiler names
 * the offending member. `unknown` and `JsonValue` pass as they are (the run-time check has the last word).
 */
export type JsonPayload<T> = unknown extends T
  ? T
  : [T] extends [JsonValue]
    ? T
    : T extends NotJson
      ? never
      : T extends object
        ? { [K in keyof T]: JsonPayload<T[K]> }
        : T;

/** The events of an append, each payload checked by {@link JsonPayload}. */
export type CheckedEvents<E extends readonly NewEvent<unknown>[]> = {
  readonly [I in keyof E]: E[I] extends NewEvent<infer P> ? NewEvent<JsonPayload<P>> : never;
};

/** One alternative of a query (C2): its type part AND its payload part must match. */
export interface EventFilter {
  /** Absent or `null`: any type; `[]`: none; otherwise the type equals one entry (case-sensitive). */
  readonly event_types?: readonly string[] | null;
  /** Absent or `null`: any payload; `[]`: none; otherwise ANY predicate is a subset of the payload. */
  readonly payload_predicates?: readonly JsonValue[] | null;
}

/** Which facts to read (C3, C8). `{}` reads the whole log. */
export interface EventQuery {
  /** Absent, `null` or `[]`: every event matches; otherwise any filter (OR). */
  readonly filters?: readonly EventFilter[] | null;
  /** Exclusive lower bound: only events after this number (absent or 0: from the start). */
  readonly min_sequence_number?: SequenceNumberInput | null;
  /** At most this many records; does not change `current_context_version`. */
  readonly limit?: number | null;
  /** Newest first. */
  readonly backwards?: boolean;
  /**
   * Inclusive upper bound: read the log as it was at this number (records and `current_context_version`).
   * `appendIf` and streams refuse it with `InvalidInput`.
   */
  readonly max_sequence_number?: SequenceNumberInput | null;
}

/** A query as the server stores it (inside {@link DurableStreamInfo}): every field present. */
export interface StoredEventQuery {
  readonly filters: readonly EventFilter[] | null;
  readonly min_sequence_number: bigint | null;
  readonly limit: number | null;
  readonly backwards: boolean;
  readonly max_sequence_number: bigint | null;
}

/**
 * A committed fact. `T` is the payload's type as the caller declares it (`query<SlotReserved>(...)`); the
 * client does not check it, just as `JSON.parse` does not: it is JSON the server returned.
 */
export interface EventRecord<T = JsonValue> {
  readonly sequence_number: bigint;
  /**
   * When the batch was committed, as the server's text: UTC ISO 8601 with six fractional digits and `Z`
   * (`2026-01-31T12:00:00.000123Z`). Kept as a string because a `Date` would drop the microseconds;
   * `new Date(record.occurred_at)` gives a `Date` when milliseconds are enough.
   */
  readonly occurred_at: string;
  readonly event_type: string;
  readonly payload: T;
}

/** What {@link FactstrClient.query} returns (C3). */
export interface QueryResult<T = JsonValue> {
  readonly event_records: readonly EventRecord<T>[];
  /** The last returned record's number (in the returned order), `null` when none was returned. */
  readonly last_returned_sequence_number: bigint | null;
  /**
   * The highest number of ANY matching event in the log, ignoring `min_sequence_number` and `limit` (at or
   * below `max_sequence_number` when the query has one).
   */
  readonly current_context_version: bigint | null;
  /** The log's head in the same snapshot as the records: everything up to it has been seen. */
  readonly head: bigint | null;
}

/** What an append returns (C4): one consecutive range, `last = first + count - 1`. */
export interface AppendResult {
  readonly first_sequence_number: bigint;
  readonly last_sequence_number: bigint;
  readonly committed_count: number;
}

/** A stored durable cursor (C6.1). */
export interface DurableStreamInfo {
  readonly name: string;
  readonly query: StoredEventQuery;
  /** The last fully handled sequence number; `null` when nothing was handled yet. */
  readonly cursor: bigint | null;
  /** The log's head when the server answered. */
  readonly head: bigint | null;
  /** `head - cursor`, counting `null` as 0. */
  readonly lag: bigint;
  /** Held by a stream somewhere, in any process. */
  readonly active: boolean;
}

/** Where a stream starts: at the log's beginning, at its end, or after a sequence number. */
export type StreamStart = "beginning" | "end" | SequenceNumberInput;
