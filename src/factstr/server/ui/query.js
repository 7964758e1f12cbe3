// Query: event types and payload predicates, run with POST /query; the store's own validation answers
// (422) are shown as they come. The query can be copied as JSON, as a Python EventQuery or as TypeScript.

import { ApiError, post } from "./api.js";
import { copyText, el, fill, formatNumber, message } from "./dom.js";
import { factElement } from "./facts.js";
import { parseJson, stringify, toPython, toTypeScript } from "./json.js";

const SAVED = "factstr.query";
const FORMATS = ["JSON", "Python", "TypeScript"];

function blankFilter() {
  return { types: "", predicates: "" };
}

function loadState(params) {
  const type = params.get("type");
  if (type !== null) return { filters: [{ types: type, predicates: "" }], after: "", limit: "100", backwards: true, run: true };
  try {
    const saved = JSON.parse(sessionStorage.getItem(SAVED) ?? "null");
    if (saved && Array.isArray(saved.filters) && saved.filters.length > 0) return { ...saved, run: false };
  } catch {
    // A damaged saved form is simply not restored.
  }
  return { filters: [blankFilter()], after: "", limit: "100", backwards: true, run: false };
}

/** Event type names: comma-separated, or a JSON array of strings for names that hold a comma. */
function typesOf(text, index) {
  if (text.trim().startsWith("[")) {
    try {
      return parseJson(text);
    } catch (error) {
      throw new Error(`filter ${index + 1}: the event types are not a JSON array (${error.message})`);
    }
  }
  return text.split(",").map((type) => type.trim()).filter((type) => type !== "");
}

/** The EventQuery the form describes, or throws an Error naming the field that is not JSON. */
export function queryOf(state) {
  const filters = state.filters.map((filter, index) => {
    const types = typesOf(filter.types, index);
    let predicates = null;
    if (filter.predicates.trim() !== "") {
      try {
        predicates = parseJson(filter.predicates);
      } catch (error) {
        throw new Error(`filter ${index + 1}: the payload predicates are not JSON (${error.message})`);
      }
    }
    const result = {};
    if (types.length > 0) result.event_types = types;
    if (predicates !== null) result.payload_predicates = predicates;
    return result;
  });
  const query = {};
  // A filter without types and predicates matches everything, and so does a query without filters.
  if (!filters.every((filter) => Object.keys(filter).length === 0)) query.filters = filters;
  const after = state.after.trim();
  if (after !== "") query.min_sequence_number = /^\d+$/.test(after) ? Number(after) : after;
  const limit = state.limit.trim();
  if (limit !== "") query.limit = /^\d+$/.test(limit) ? Number(limit) : limit;
  if (state.backwards) query.backwards = true;
  return query;
}

function pythonOf(query) {
  const filterText = (filter) => {
    const parts = [];
    if (filter.event_types) parts.push(`event_types=${toPython(filter.event_types)}`);
    if (filter.payload_predicates !== undefined) parts.push(`payload_predicates=${toPython(filter.payload_predicates)}`);
    return `EventFilter(${parts.join(", ")})`;
  };
  const fields = [];
  if (query.filters) fields.push(`filters=[\n        ${query.filters.map(filterText).join(",\n        ")},\n    ]`);
  if (query.min_sequence_number !== undefined) fields.push(`min_sequence_number=${toPython(query.min_sequence_number)}`);
  if (query.limit !== undefined) fields.push(`limit=${toPython(query.limit)}`);
  if (query.backwards) fields.push("backwards=True");
  const imports = query.filters ? "from factstr import EventFilter, EventQuery" : "from factstr import EventQuery";
  if (fields.length === 0) return `${imports}\n\nquery = EventQuery()`;
  return `${imports}\n\nquery = EventQuery(\n    ${fields.join(",\n    ")},\n)`;
}

function typeScriptOf(query) {
  const fields = [];
  if (query.filters) fields.push(`filters: [\n    ${query.filters.map(toTypeScript).join(",\n    ")},\n  ]`);
  if (query.min_sequence_number !== undefined) fields.push(`min_sequence_number: ${toTypeScript(query.min_sequence_number)}`);
  if (query.limit !== undefined) fields.push(`limit: ${toTypeScript(query.limit)}`);
  if (query.backwards) fields.push("backwards: true");
  const body = fields.length === 0 ? "{}" : `{\n  ${fields.join(",\n  ")},\n}`;
  return `import type { EventQuery } from "@factstr/client";\n\nconst query: EventQuery = ${body};`;
}

export function codeOf(query, format) {
  if (format === "Python") return pythonOf(query);
  if (format === "TypeScript") return typeScriptOf(query);
  return stringify(query, 2);
}

export function mount(container, { params }) {
  const state = loadState(params);
  let format = "JSON";
  const filtersBox = el("div", { class: "filters", id: "filters" });
  const afterInput = el("input", { type: "text", inputmode: "numeric", id: "query-after", value: state.after, placeholder: "0" });
  const limitInput = el("input", { type: "text", inputmode: "numeric", id: "query-limit", value: state.limit, placeholder: "none" });
  const backwardsInput = el("input", { type: "checkbox", id: "query-backwards", checked: state.backwards });
  const problem = el("div", { id: "query-problem" });
  const code = el("pre", { class: "code", id: "query-code" });
  const tabs = el("div", { class: "tabs", role: "tablist" });
  const copied = el("span", { class: "copied", id: "query-copied" });
  const results = el("div", { id: "query-results" });

  function save() {
    state.after = afterInput.value;
    state.limit = limitInput.value;
    state.backwards = backwardsInput.checked;
    sessionStorage.setItem(SAVED, JSON.stringify({ filters: state.filters, after: state.after, limit: state.limit, backwards: state.backwards }));
    showCode();
  }

  function showCode() {
    try {
      code.textContent = codeOf(queryOf(state), format);
      code.classList.remove("stale");
    } catch (error) {
      // The filter's own check says what is wrong; keep the last good text, marked as out of date.
      code.classList.add("stale");
    }
  }

  function drawFilters() {
    fill(
      filtersBox,
      state.filters.map((filter, index) => {
        const types = el("input", { type: "text", class: "filter-types", value: filter.types, placeholder: "any type (comma-separated names, or a JSON array)", "aria-label": `Event types of filter ${index + 1}` });
        const predicates = el("textarea", { class: "filter-predicates", rows: 3, spellcheck: "false", placeholder: 'any payload, or a JSON array such as [{"account": "a-1"}]', "aria-label": `Payload predicates of filter ${index + 1}` });
        predicates.value = filter.predicates;
        const local = el("div", { class: "filter-check" });
        const check = () => {
          fill(local);
          if (filter.predicates.trim() === "") return;
          try {
            parseJson(filter.predicates);
          } catch (error) {
            fill(local, message("error", `Not JSON yet: ${error.message}`));
          }
        };
        types.addEventListener("input", () => {
          filter.types = types.value;
          save();
        });
        predicates.addEventListener("input", () => {
          filter.predicates = predicates.value;
          check();
          save();
        });
        check();
        const remove = state.filters.length === 1 ? null : el("button", { type: "button", class: "link", onclick: () => { state.filters.splice(index, 1); if (state.filters.length === 0) state.filters.push(blankFilter()); drawFilters(); save(); } }, "remove");
        return el(
          "fieldset",
          { class: "filter" },
          el("legend", {}, index === 0 ? "Filter" : "or filter", " ", remove),
          el("label", {}, "Event types", types),
          el("label", {}, "Payload predicates (any of them must be contained in the payload)", predicates),
          local,
        );
      }),
    );
  }

  async function run() {
    fill(problem);
    let query;
    try {
      query = queryOf(state);
    } catch (error) {
      fill(problem, message("error", error.message));
      return;
    }
    fill(results, el("p", { class: "hint" }, "Running…"));
    try {
      const result = await post("/query", stringify(query));
      const records = result.event_records;
      const version = result.current_context_version;
      fill(
        results,
        el(
          "p",
          { class: "status-line", id: "query-summary" },
          `${formatNumber(records.length)} fact${records.length === 1 ? "" : "s"} · current_context_version `,
          el("strong", { id: "context-version" }, version === null ? "null" : `${version}`),
          ` · last_returned_sequence_number ${result.last_returned_sequence_number ?? "null"}`,
        ),
        records.length === 0 ? el("p", { class: "empty" }, "No fact matches.") : el("ol", { class: "facts" }, records.map((record) => factElement(record))),
      );
    } catch (error) {
      fill(results);
      const text = error instanceof ApiError ? `The server refused the query (${error.status} ${error.code}): ${error.message}` : `The query failed: ${error.message}`;
      fill(problem, message("error", text));
    }
  }

  for (const name of FORMATS) {
    tabs.append(
      el("button", { type: "button", role: "tab", class: name === format ? "tab active" : "tab", dataset: { format: name }, onclick: (event) => {
        format = name;
        for (const tab of tabs.children) tab.classList.toggle("active", tab === event.currentTarget);
        fill(copied);
        showCode();
      } }, name),
    );
  }
  const copy = el("button", { type: "button", id: "query-copy", onclick: async () => {
    fill(copied, (await copyText(code.textContent)) ? `${format} copied` : "select the text to copy it");
  } }, "Copy");

  for (const input of [afterInput, limitInput, backwardsInput]) input.addEventListener("input", save);
  const form = el(
    "form",
    { id: "query-form", onsubmit: (event) => { event.preventDefault(); run(); } },
    filtersBox,
    el("button", { type: "button", class: "link", id: "add-filter", onclick: () => { state.filters.push(blankFilter()); drawFilters(); save(); } }, "+ add a filter (OR)"),
    el(
      "div",
      { class: "options" },
      el("label", {}, "After sequence number", afterInput),
      el("label", {}, "Limit", limitInput),
      el("label", { class: "check" }, backwardsInput, "Newest first"),
      el("button", { type: "submit", class: "primary", id: "run-query" }, "Run query"),
    ),
  );
  fill(
    container,
    el("h1", {}, "Query"),
    el("div", { class: "query-layout" }, el("div", {}, form, problem), el("div", { class: "query-code" }, el("div", { class: "code-bar" }, tabs, copy, copied), code)),
    results,
  );
  drawFilters();
  showCode();
  if (state.run) run();
  return null;
}
