// Cursors: every durable stream's stored cursor, its lag behind the head and whether something holds it,
// refreshed every second. Reset and delete are offered only when the server runs with --ui-admin, and
// each asks for confirmation first.

import { ApiError, del, get, post } from "./api.js";
import { el, fill, formatNumber, message, modal } from "./dom.js";
import { stringify } from "./json.js";

const REFRESH_MS = 1000;
const heldNote = "A running stream holds this cursor: stop it before resetting or deleting it.";

/** A stored query without its null and default fields: what a person would have written. */
function compact(value) {
  if (Array.isArray(value)) return value.map(compact);
  if (value === null || typeof value !== "object") return value;
  const result = {};
  for (const [key, item] of Object.entries(value)) {
    if (item !== null && item !== false) result[key] = compact(item);
  }
  return result;
}

function queryText(query) {
  const text = stringify(compact(query));
  return text === "{}" ? "every fact" : text;
}

function namePath(name) {
  return `/durable_streams/${encodeURIComponent(name)}`;
}

async function confirmReset(info) {
  let input;
  const answer = await modal(
    `Reset the cursor of “${info.name}”?`,
    (form) => {
      form.append(
        el("p", {}, `Its next registration resumes after the position you set: 0 replays every matching fact again, the head (#${formatNumber(info.head ?? 0)}) skips everything committed so far.`),
        el("p", {}, `Now: cursor ${info.cursor ?? "none"}, lag ${formatNumber(info.lag)}. A held cursor cannot be reset; stop its stream first.`),
      );
      input = el("input", { type: "number", min: 0, step: 1, value: 0, id: "reset-position", required: true, "aria-label": "New cursor position" });
      form.append(el("label", {}, "New position", input));
    },
    [
      ["cancel", "Cancel"],
      ["reset", "Reset cursor", "danger"],
    ],
  );
  return answer === "reset" ? input.value.trim() : null;
}

async function confirmDelete(info) {
  const answer = await modal(
    `Delete the cursor of “${info.name}”?`,
    (form) => {
      form.append(el("p", {}, "The stored cursor and query are forgotten. The next registration under this name starts where its start argument says, as if new. A held cursor cannot be deleted."));
    },
    [
      ["cancel", "Cancel"],
      ["delete", "Delete cursor", "danger"],
    ],
  );
  return answer === "delete";
}

export function mount(container, { config }) {
  const status = el("div", { class: "status-line", id: "cursors-status" });
  const problem = el("div", { id: "cursors-problem" });
  const table = el("div", { id: "cursors-table" });
  fill(
    container,
    el("h1", {}, "Cursors"),
    el(
      "p",
      { class: "hint" },
      config.admin
        ? "Durable streams and their stored cursors. This server runs with --ui-admin: cursors can be reset and deleted here."
        : "Durable streams and their stored cursors. Read-only: start the server with --ui-admin to reset or delete cursors from this page.",
    ),
    status,
    problem,
    table,
  );
  let stopped = false;
  let timer = null;
  let busy = false;
  const lastLag = new Map();

  async function act(action) {
    busy = true;
    fill(problem);
    try {
      await action();
    } catch (error) {
      const text = error instanceof ApiError ? `${error.code}: ${error.message}` : error.message;
      fill(problem, message("error", `The server refused: ${text}`));
    } finally {
      busy = false;
      refresh(false);
    }
  }

  function row(info) {
    const previous = lastLag.get(info.name);
    lastLag.set(info.name, info.lag);
    const lagClass = previous !== undefined && previous !== info.lag ? "number lag changed" : "number lag";
    const actions = config.admin
      ? el(
          "td",
          { class: "actions" },
          el("button", { type: "button", class: "small reset", disabled: info.active, title: info.active ? heldNote : undefined, onclick: async () => {
            const position = await confirmReset(info);
            if (position !== null) act(() => post(`${namePath(info.name)}/reset`, `{"position":${/^\d+$/.test(position) ? position : JSON.stringify(position)}}`));
          } }, "Reset…"),
          el("button", { type: "button", class: "small danger delete", disabled: info.active, title: info.active ? heldNote : undefined, onclick: async () => {
            if (await confirmDelete(info)) act(() => del(namePath(info.name)));
          } }, "Delete…"),
        )
      : null;
    return el(
      "tr",
      { dataset: { name: info.name } },
      el("td", { class: "name" }, info.name),
      el("td", { class: "query" }, el("code", {}, queryText(info.query))),
      el("td", { class: "number cursor" }, info.cursor === null ? "none" : `#${formatNumber(info.cursor)}`),
      el("td", { class: "number head" }, info.head === null ? "empty" : `#${formatNumber(info.head)}`),
      el("td", { class: lagClass }, formatNumber(info.lag)),
      el("td", { class: "active" }, el("span", { class: info.active ? "dot dot-live" : "dot dot-idle" }), info.active ? "held" : "idle"),
      actions,
    );
  }

  async function refresh(again = true) {
    if (stopped) return;
    // While a dialog is open the table stays as it was, so the row being confirmed does not move.
    if (!busy && !document.querySelector("dialog[open]")) {
      try {
        const { durable_streams: infos } = await get("/durable_streams");
        if (stopped) return;
        if (infos.length === 0) {
          fill(table, el("p", { class: "empty" }, "No durable stream has stored a cursor yet."));
        } else {
          const head = el("tr", {}, ...["Name", "Query", "Cursor", "Head", "Lag", "Active"].map((title) => el("th", {}, title)), config.admin ? el("th", {}, "") : null);
          fill(table, el("table", { class: "cursors" }, el("thead", {}, head), el("tbody", {}, infos.map(row))));
        }
        fill(status, `${infos.length} durable stream${infos.length === 1 ? "" : "s"} · updated ${new Date().toLocaleTimeString(undefined, { hour12: false })}`);
      } catch (error) {
        if (!stopped) fill(status, message("error", `Could not read /durable_streams: ${error.message}`));
      }
    }
    if (again && !stopped) timer = setTimeout(refresh, REFRESH_MS);
  }
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
