/**
 * The server's error messages in a TypeScript user's words.
 *
 * The server is written in Python and its messages speak Python: `pass reset=True`, quoted names like
 * `'board'`, paths like `payload['room']`, type names like `str`, `int` and `None`, `2**63 - 1`. The codes
 * are what programs branch on; the message is what a person reads, so the client rewrites these few forms
 * into what they are called on this side (`reset: true`, `"board"`, `payload["room"]`, `string`, `integer`,
 * `null`, `2^63 - 1`). Everything else in a message is plain English and stays as it is.
 */

/** What the server's messages call a type (Python's and msgspec's names), and what TypeScript users call it. */
const TYPE_NAMES: Readonly<Record<string, string>> = {
  str: "string",
  int: "integer",
  float: "number",
  bool: "boolean",
  dict: "object",
  list: "array",
  None: "null",
  NoneType: "null",
};

const JSON_NAMES: ReadonlySet<string> = new Set(["string", "integer", "number", "boolean", "object", "array", "null"]);

/** Rewrite a message of the server into the client's words (see the module comment). */
export function inClientWords(message: string): string {
  return rewriteTypeNames(rewritePythonStrings(message))
    .replace(/\b(\w+)=True\b/g, "$1: true")
    .replace(/\b(\w+)=False\b/g, "$1: false")
    .replace(/\b2\*\*(\d+)/g, "2^$1")
    .replace(/\b(or|is|got|version|expected|actual) None(?:Type)?\b/g, "$1 null");
}

/** "must be a str", "a non-negative int": a Python type name after the words that announce one. */
const TYPE_WORD = /\b(must be an?|non-negative|positive) (str|int|float|bool)\b/g;

/** msgspec's "Expected `str`, got `int`" and the server's "a non-negative int": the JSON names instead. */
function rewriteTypeNames(message: string): string {
  return message
    .replace(/\b(Expected|expected|got) `([^`]*)`/g, (whole, before: string, inside: string) => {
      const parts = inside.split(" | ");
      if (!parts.every((part) => part in TYPE_NAMES || JSON_NAMES.has(part))) return whole;
      return `${before} \`${parts.map((part) => TYPE_NAMES[part] ?? part).join(" | ")}\``;
    })
    .replace(TYPE_WORD, (_whole, before: string, name: string) => {
      const word = TYPE_NAMES[name] ?? name;
      const article = /^[aeiou]/.test(word) ? "an" : "a";
      return `${before.startsWith("must be") ? `must be ${article}` : before} ${word}`;
    });
}

/**
 * Python's quoted strings (`'board'`, `"it's"`, with backslash escapes) as JSON strings. A quote only opens a
 * string where Python's repr would start one (after a space, `[`, `(` or the start), so an apostrophe inside
 * a word ("server's") is left alone.
 */
function rewritePythonStrings(message: string): string {
  let result = "";
  let index = 0;
  while (index < message.length) {
    const char = message[index]!;
    const previous = index === 0 ? " " : message[index - 1]!;
    if ((char === "'" || char === '"') && /[\s[(]/.test(previous)) {
      const literal = readPythonString(message, index);
      if (literal !== undefined) {
        result += JSON.stringify(literal.value);
        index = literal.end;
        continue;
      }
    }
    result += char;
    index += 1;
  }
  return result;
}

/** The Python string literal starting at `start`, decoded; undefined when there is none there. */
function readPythonString(text: string, start: number): { value: string; end: number } | undefined {
  const quote = text[start];
  let value = "";
  let index = start + 1;
  while (index < text.length) {
    const char = text[index]!;
    if (char === quote) {
      // A literal ends where a repr's would: before a space, punctuation or the end of the message.
      const after = text[index + 1];
      if (after !== undefined && !/[\s\]),;:.]/.test(after)) return undefined;
      return { value, end: index + 1 };
    }
    if (char !== "\\") {
      value += char;
      index += 1;
      continue;
    }
    const escape = text[index + 1];
    const simple: Record<string, string> = { "\\": "\\", "'": "'", '"': '"', n: "\n", r: "\r", t: "\t", "0": "\0" };
    if (escape !== undefined && escape in simple) {
      value += simple[escape];
      index += 2;
      continue;
    }
    const digits = escape === "x" ? 2 : escape === "u" ? 4 : escape === "U" ? 8 : 0;
    const hex = text.slice(index + 2, index + 2 + digits);
    if (digits === 0 || !new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) return undefined;
    value += String.fromCodePoint(Number.parseInt(hex, 16));
    index += 2 + digits;
  }
  return undefined;
}
