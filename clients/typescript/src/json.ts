/**
 * JSON text in and out without losing sequence numbers.
 *
 * `JSON.parse` turns every number into a `number`, which is exact only up to 2^53 - 1. The server sends
 * sequence numbers as JSON integers, so responses are read with {@link parseJson}: a small reader that keeps
 * the integer literal of every member named in `bigintKeys` as a `bigint`, and hands every member named in
 * `opaqueKeys` (event payloads, predicates) to `JSON.parse` untouched, so user data stays ordinary JSON
 * whatever its keys are called. {@link stringifyJson} writes `bigint` back as a JSON integer (outside the
 * opaque members: user data is plain JSON there, so a `bigint` in a payload or predicate is refused rather
 * than sent as a number no reader on the other side can tell from one) and refuses what JSON cannot say (NaN,
 * infinities, cycles, functions) instead of coercing it silently.
 */

/** A JSON value as `JSON.parse` returns it: what an event's payload and a payload predicate may be. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Thrown by {@link parseJson} and {@link stringifyJson}; the client turns it into a typed error. */
export class JsonError extends Error {
  override name = "JsonError";
}

export interface ParseOptions {
  /** Members whose integer values become `bigint` (at any depth outside an opaque member). */
  readonly bigintKeys: ReadonlySet<string>;
  /** Members whose values are user data, parsed with plain `JSON.parse` semantics. */
  readonly opaqueKeys: ReadonlySet<string>;
}

/** A parsed document: JSON values, with `bigint` where {@link ParseOptions.bigintKeys} asked for it. */
export type LosslessValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | LosslessValue[]
  | { [key: string]: LosslessValue };

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
const SCALAR_END = new Set([",", "}", "]", " ", "\t", "\n", "\r"]);
const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** Parse JSON text, keeping the integers of the named members exact (see the module comment). */
export function parseJson(text: string, options: ParseOptions): LosslessValue {
  const reader = new Reader(text, options);
  reader.skipWhitespace();
  const value = reader.value(false);
  reader.skipWhitespace();
  if (reader.position !== text.length) {
    reader.fail("unexpected text after the JSON value");
  }
  return value;
}

class Reader {
  position = 0;

  constructor(
    private readonly text: string,
    private readonly options: ParseOptions,
  ) {}

  fail(message: string): never {
    throw new JsonError(`${message} at offset ${this.position}`);
  }

  skipWhitespace(): void {
    while (this.position < this.text.length && WHITESPACE.has(this.text.charCodeAt(this.position))) {
      this.position += 1;
    }
  }

  value(exactIntegers: boolean): LosslessValue {
    const char = this.text[this.position];
    switch (char) {
      case "{":
        return this.object();
      case "[":
        return this.array(exactIntegers);
      case '"':
        return this.string();
      case "t":
        return this.literal("true", true);
      case "f":
        return this.literal("false", false);
      case "n":
        return this.literal("null", null);
      default:
        return this.number(exactIntegers);
    }
  }

  private object(): { [key: string]: LosslessValue } {
    const result: { [key: string]: LosslessValue } = {};
    this.position += 1;
    this.skipWhitespace();
    if (this.text[this.position] === "}") {
      this.position += 1;
      return result;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.position] !== '"') this.fail("expected a member name");
      const key = this.string();
      this.skipWhitespace();
      if (this.text[this.position] !== ":") this.fail("expected ':'");
      this.position += 1;
      this.skipWhitespace();
      const value = this.options.opaqueKeys.has(key)
        ? this.opaque()
        : this.value(this.options.bigintKeys.has(key));
      // defineProperty: a member called "__proto__" must stay data, as JSON.parse keeps it.
      Object.defineProperty(result, key, { value, enumerable: true, writable: true, configurable: true });
      this.skipWhitespace();
      const separator = this.text[this.position];
      this.position += 1;
      if (separator === "}") return result;
      if (separator !== ",") this.fail("expected ',' or '}'");
    }
  }

  private array(exactIntegers: boolean): LosslessValue[] {
    const result: LosslessValue[] = [];
    this.position += 1;
    this.skipWhitespace();
    if (this.text[this.position] === "]") {
      this.position += 1;
      return result;
    }
    for (;;) {
      this.skipWhitespace();
      result.push(this.value(exactIntegers));
      this.skipWhitespace();
      const separator = this.text[this.position];
      this.position += 1;
      if (separator === "]") return result;
      if (separator !== ",") this.fail("expected ',' or ']'");
    }
  }

  private string(): string {
    const start = this.position;
    let escaped = false;
    this.position += 1;
    for (;;) {
      const code = this.text.charCodeAt(this.position);
      if (Number.isNaN(code)) this.fail("unterminated string");
      if (code === 0x22) break;
      if (code === 0x5c) {
        escaped = true;
        this.position += 1; // the escaped character cannot end the string
      }
      this.position += 1;
    }
    this.position += 1;
    const literal = this.text.slice(start, this.position);
    // JSON.parse decodes escapes (and rejects control characters) exactly as the standard says.
    return escaped ? (this.parseStandard(literal) as string) : this.checkedPlain(literal);
  }

  private checkedPlain(literal: string): string {
    for (let index = 1; index < literal.length - 1; index += 1) {
      if (literal.charCodeAt(index) < 0x20) this.fail("control character in a string");
    }
    return literal.slice(1, -1);
  }

  private literal<T extends LosslessValue>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.position)) this.fail("unexpected character");
    this.position += word.length;
    return value;
  }

  private number(exactIntegers: boolean): number | bigint {
    NUMBER.lastIndex = this.position;
    const match = NUMBER.exec(this.text);
    if (match === null || match[0] === "") this.fail("unexpected character");
    const literal = match[0];
    this.position += literal.length;
    if (exactIntegers && INTEGER.test(literal)) return BigInt(literal);
    return Number(literal);
  }

  /** Skip one JSON value and parse its text with JSON.parse: user data keeps standard semantics. */
  private opaque(): LosslessValue {
    const start = this.position;
    const first = this.text[this.position];
    if (first === '"') {
      this.string();
    } else if (first === "{" || first === "[") {
      let depth = 0;
      do {
        const char = this.text[this.position];
        if (char === undefined) this.fail("unterminated value");
        if (char === '"') {
          this.string();
          continue;
        }
        if (char === "{" || char === "[") depth += 1;
        else if (char === "}" || char === "]") depth -= 1;
        this.position += 1;
      } while (depth > 0);
    } else {
      while (this.position < this.text.length && !SCALAR_END.has(this.text[this.position] ?? "")) {
        this.position += 1;
      }
    }
    return this.parseStandard(this.text.slice(start, this.position));
  }

  private parseStandard(literal: string): LosslessValue {
    try {
      return JSON.parse(literal) as LosslessValue;
    } catch (error) {
      this.fail(error instanceof Error ? error.message : "invalid JSON");
    }
  }
}

/** A value {@link stringifyJson} can write: JSON values plus `bigint`; `undefined` members are left out. */
export type WritableValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | undefined
  | readonly WritableValue[]
  | { readonly [key: string]: WritableValue };

/**
 * Write JSON text; `bigint` becomes a JSON integer, except inside the members named in `opaqueKeys` (user
 * data), where it is refused. Throws {@link JsonError} for what JSON cannot hold.
 */
export function stringifyJson(value: WritableValue, opaqueKeys: ReadonlySet<string> = new Set()): string {
  const parts: string[] = [];
  write(value, parts, { open: new Set(), opaqueKeys, inOpaque: false }, "$");
  return parts.join("");
}

interface Writing {
  readonly open: Set<object>;
  readonly opaqueKeys: ReadonlySet<string>;
  /** Inside user data: no bigint. */
  readonly inOpaque: boolean;
}

function write(value: WritableValue, parts: string[], writing: Writing, where: string): void {
  const open = writing.open;
  switch (typeof value) {
    case "string":
      parts.push(JSON.stringify(value));
      return;
    case "bigint":
      if (writing.inOpaque) {
        throw new JsonError(
          `${where} is a bigint; payloads and predicates are plain JSON values: ` +
            "pass a number (a safe integer) or a string instead",
        );
      }
      parts.push(value.toString());
      return;
    case "boolean":
      parts.push(value ? "true" : "false");
      return;
    case "number":
      if (!Number.isFinite(value)) throw new JsonError(`${where} is ${value}, which JSON cannot represent`);
      parts.push(JSON.stringify(value));
      return;
    case "object":
      break;
    default:
      throw new JsonError(`${where} is a ${typeof value}, which is not a JSON value`);
  }
  if (value === null) {
    parts.push("null");
    return;
  }
  if (open.has(value)) throw new JsonError(`${where} refers to itself (a cycle)`);
  open.add(value);
  if (Array.isArray(value)) {
    parts.push("[");
    (value as readonly WritableValue[]).forEach((item, index) => {
      if (index > 0) parts.push(",");
      write(item, parts, writing, `${where}[${index}]`);
    });
    parts.push("]");
  } else {
    const prototype: unknown = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) {
      throw new JsonError(`${where} is a ${value.constructor.name}, not a plain object`);
    }
    parts.push("{");
    let first = true;
    for (const [key, item] of Object.entries(value as { readonly [key: string]: WritableValue })) {
      if (item === undefined) continue;
      if (!first) parts.push(",");
      first = false;
      parts.push(JSON.stringify(key), ":");
      const opaque = writing.inOpaque || writing.opaqueKeys.has(key);
      write(item, parts, opaque === writing.inOpaque ? writing : { ...writing, inOpaque: opaque }, `${where}.${key}`);
    }
    parts.push("}");
  }
  open.delete(value);
}
