/**
 * Helpers for sequence numbers, which the client hands out as `bigint` (exact past 2^53).
 *
 * Two things about `bigint` trip people up: `JSON.stringify` throws on it, and it does not mix with `number`
 * (`version + 1` throws a TypeError). These helpers write a sequence number as decimal text (exact, and what
 * the server's own `Last-Event-ID` uses), read it back from text or a number, and count on from one.
 */

import { InvalidInput } from "./errors.js";
import type { SequenceNumberInput } from "./types.js";

/** The largest sequence number a store hands out: 2^63 - 1. */
export const MAX_SEQUENCE_NUMBER = 2n ** 63n - 1n;

/**
 * The sequence number after `sequenceNumber` (`1n` after `null`, an empty log's or context's version).
 * Accepts a `bigint` or a safe-integer `number`.
 */
export function nextSequenceNumber(sequenceNumber: SequenceNumberInput | null | undefined): bigint {
  if (sequenceNumber === null || sequenceNumber === undefined) return 1n;
  return checked(sequenceNumber, "sequenceNumber") + 1n;
}

/** A sequence number as decimal text, for JSON (`"9007199254740993"`); `null` stays `null`. */
export function sequenceNumberToJson(sequenceNumber: SequenceNumberInput): string;
export function sequenceNumberToJson(sequenceNumber: SequenceNumberInput | null): string | null;
export function sequenceNumberToJson(sequenceNumber: SequenceNumberInput | null): string | null {
  return sequenceNumber === null ? null : checked(sequenceNumber, "sequenceNumber").toString();
}

/**
 * A sequence number read back from JSON: decimal text (as {@link sequenceNumberToJson} writes it), a
 * safe-integer `number` or a `bigint`; `null` (and `undefined`) give `null`. Anything else (a negative or
 * fractional number, text that is not decimal digits, a value above 2^63 - 1) throws `InvalidInput`.
 */
export function sequenceNumberFromJson(value: string | number | bigint): bigint;
export function sequenceNumberFromJson(value: unknown): bigint | null;
export function sequenceNumberFromJson(value: unknown): bigint | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") {
    if (!/^[0-9]+$/.test(value)) throw new InvalidInput(`a sequence number must be decimal digits, got ${show(value)}`);
    return checked(BigInt(value), "the value");
  }
  if (typeof value === "number" || typeof value === "bigint") return checked(value, "the value");
  throw new InvalidInput(`a sequence number must be text, a number or a bigint, got ${typeof value}`);
}

/**
 * A `JSON.stringify` replacer that writes every `bigint` as its decimal text:
 * `JSON.stringify(result, bigintReplacer)` works on anything the client returned.
 */
export function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

function checked(value: bigint | number, what: string): bigint {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      throw new InvalidInput(`${what} must be a bigint or a safe integer, got ${value}`);
    }
    value = BigInt(value);
  } else if (typeof value !== "bigint") {
    throw new InvalidInput(`${what} must be a bigint or a safe integer, got ${typeof value}`);
  }
  if (value < 0n) throw new InvalidInput(`${what} must not be negative, got ${value}`);
  if (value > MAX_SEQUENCE_NUMBER) throw new InvalidInput(`${what} must be at most ${MAX_SEQUENCE_NUMBER} (2^63 - 1)`);
  return value;
}

function show(text: string): string {
  return JSON.stringify(text.length <= 40 ? text : `${text.slice(0, 37)}...`);
}
