// JSON as the inspector shows it: parsed without rounding big integers, drawn as collapsible trees, and
// written back as JSON, as a Python literal or as a TypeScript literal.

import { el } from "./dom.js";

/**
 * Parse JSON text; integers beyond 2^53 become BigInt instead of being rounded (payloads may hold int64).
 * Browsers without the reviver's source text fall back to plain numbers.
 */
export function parseJson(text) {
  return JSON.parse(text, (key, value, context) => {
    if (typeof value === "number" && !Number.isSafeInteger(value) && context?.source !== undefined) {
      if (/^-?\d+$/.test(context.source)) return BigInt(context.source);
    }
    return value;
  });
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function scalarText(value) {
  if (typeof value === "bigint") return value.toString();
  return JSON.stringify(value);
}

/** Write a value as JSON text; `indent` as in JSON.stringify. BigInt values are written as integers. */
export function stringify(value, indent = 0, depth = 0) {
  const pad = indent ? "\n" + " ".repeat(indent * (depth + 1)) : "";
  const end = indent ? "\n" + " ".repeat(indent * depth) : "";
  const sep = indent ? ": " : ":";
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return "[" + value.map((item) => pad + stringify(item, indent, depth + 1)).join(",") + end + "]";
  }
  if (isObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0) return "{}";
    return (
      "{" +
      keys.map((key) => pad + JSON.stringify(key) + sep + stringify(value[key], indent, depth + 1)).join(",") +
      end +
      "}"
    );
  }
  return scalarText(value);
}

/** Write a JSON value as a Python literal (True/False/None; JSON strings are valid Python strings). */
export function toPython(value) {
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (Array.isArray(value)) return "[" + value.map(toPython).join(", ") + "]";
  if (isObject(value)) {
    return "{" + Object.keys(value).map((key) => `${JSON.stringify(key)}: ${toPython(value[key])}`).join(", ") + "}";
  }
  return scalarText(value);
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Write a JSON value as a TypeScript literal (integers beyond 2^53 as bigint literals). */
export function toTypeScript(value) {
  if (typeof value === "bigint") return `${value}n`;
  if (Array.isArray(value)) return "[" + value.map(toTypeScript).join(", ") + "]";
  if (isObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0) return "{}";
    const fields = keys.map((key) => `${IDENTIFIER.test(key) ? key : JSON.stringify(key)}: ${toTypeScript(value[key])}`);
    return "{ " + fields.join(", ") + " }";
  }
  return scalarText(value);
}

const PREVIEW_CHARS = 90;

function count(value) {
  if (Array.isArray(value)) return `${value.length} item${value.length === 1 ? "" : "s"}`;
  const keys = Object.keys(value).length;
  return `${keys} key${keys === 1 ? "" : "s"}`;
}

/** One line of JSON with a space after each comma and colon, as people write it. */
function inline(value) {
  if (Array.isArray(value)) return "[" + value.map(inline).join(", ") + "]";
  if (isObject(value)) return "{" + Object.keys(value).map((key) => `${JSON.stringify(key)}: ${inline(value[key])}`).join(", ") + "}";
  return scalarText(value);
}

function preview(value) {
  const text = inline(value);
  return text.length <= PREVIEW_CHARS ? text : text.slice(0, PREVIEW_CHARS - 1) + "…";
}

function scalarNode(value) {
  const kind = value === null ? "null" : typeof value === "bigint" ? "number" : typeof value;
  return el("span", { class: `json-${kind}` }, scalarText(value));
}

/**
 * Draw a JSON value as a tree of <details> elements: every object and array can be folded, and a folded one
 * shows the start of its JSON. A value whose whole JSON fits on one line starts folded (the line says it
 * all); larger ones start open down to `openDepth` levels.
 */
export function renderJson(value, openDepth = 2, depth = 0) {
  if (!Array.isArray(value) && !isObject(value)) return scalarNode(value);
  const entries = Array.isArray(value) ? value.map((item, index) => [index, item]) : Object.entries(value);
  if (entries.length === 0) return el("span", { class: "json-empty" }, Array.isArray(value) ? "[]" : "{}");
  const node = el("details", { class: "json-node" });
  const short = inline(value).length <= PREVIEW_CHARS;
  node.open = !short && depth < openDepth && entries.length <= 50;
  node.append(el("summary", {}, el("span", { class: "json-preview" }, preview(value)), el("span", { class: "json-count" }, Array.isArray(value) ? `[ ${count(value)} ]` : `{ ${count(value)} }`)));
  const list = el("ul", { class: "json-entries" });
  for (const [key, item] of entries) {
    const label = Array.isArray(value) ? el("span", { class: "json-index" }, `${key}`) : el("span", { class: "json-key" }, JSON.stringify(key));
    list.append(el("li", {}, label, el("span", { class: "json-colon" }, ": "), renderJson(item, openDepth, depth + 1)));
  }
  node.append(list);
  return node;
}
