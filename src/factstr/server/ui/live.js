// Live: every batch committed from now on, as the server's live event stream delivers it, newest on top.
//
// Pausing closes the stream and remembers the last number it delivered (or read past); resuming opens a new
// stream that starts right after it, so no batch is lost or shown twice, however long the pause: the log
// itself keeps what arrived meanwhile. A broken connection resumes the same way by itself.

import { del, get, readEventStream } from "./api.js";
import { el, fill, formatNumber, message, timeElement } from "./dom.js";
import { factElement } from "./facts.js";
import { stringify } from "./json.js";

const MAX_BATCHES_SHOWN = 200;
const MAX_FACTS_SHOWN_PER_BATCH = 100;
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 5000;

export function mount(container, { params }) {
  const startText = params.get("start");
  let position = /^\d+$/.test(startText ?? "") ? Number(startText) : null; // null: start at the end
  let paused = false;
  let stopped = false;
  let controller = null;
  let streamId = null;
  let retryMs = RETRY_FIRST_MS;
  let retryTimer = null;
  let headTimer = null;
  let received = { batches: 0, facts: 0 };
  let types = "";

  const status = el("div", { class: "status-line", id: "live-status" });
  const counts = el("span", { id: "live-counts" });
  const pause = el("button", { type: "button", id: "live-pause", class: "primary" }, "Pause");
  const clear = el("button", { type: "button", id: "live-clear" }, "Clear");
  const typesInput = el("input", { type: "text", id: "live-types", placeholder: "all types (comma-separated names)", "aria-label": "Only these event types" });
  const filterForm = el("form", { class: "inline", onsubmit: (event) => { event.preventDefault(); applyTypes(); } }, typesInput, el("button", { type: "submit" }, "Filter"));
  const note = el("div", { id: "live-note" });
  const list = el("div", { class: "batches", id: "live-batches" });
  fill(
    container,
    el("h1", {}, "Live"),
    el("div", { class: "toolbar" }, pause, clear, filterForm, counts),
    status,
    note,
    list,
  );

  function streamPath() {
    const query = new URLSearchParams({ start: position === null ? "end" : String(position) });
    const names = types.split(",").map((name) => name.trim()).filter((name) => name !== "");
    if (names.length > 0) query.set("query", stringify({ filters: [{ event_types: names }] }));
    return `/streams/live?${query}`;
  }

  function setStatus(kind, text) {
    fill(status, el("span", { class: `dot dot-${kind}` }), text);
    status.dataset.state = kind;
  }

  function showCounts() {
    counts.textContent = `${formatNumber(received.batches)} batches · ${formatNumber(received.facts)} facts received`;
  }

  function showBatch(records) {
    const first = Number(records[0].sequence_number);
    const last = Number(records[records.length - 1].sequence_number);
    const label = el(
      "div",
      { class: "batch-label" },
      first === last ? `batch #${formatNumber(first)}` : `batch #${formatNumber(first)}–#${formatNumber(last)}`,
      ` · ${records.length} fact${records.length === 1 ? "" : "s"} · `,
      timeElement(records[0].occurred_at),
    );
    const shown = records.slice(0, MAX_FACTS_SHOWN_PER_BATCH);
    const more = records.length - shown.length;
    list.prepend(
      el(
        "section",
        { class: "batch batch-new", dataset: { first: String(first), last: String(last) } },
        label,
        el("ol", { class: "facts" }, shown.map((record) => factElement(record))),
        more > 0 ? el("p", { class: "batch-more" }, `… and ${formatNumber(more)} more facts of this batch (Browse shows them all).`) : null,
      ),
    );
    while (list.children.length > MAX_BATCHES_SHOWN) {
      list.lastElementChild.remove();
      fill(note, message("note", `Only the newest ${MAX_BATCHES_SHOWN} batches stay on this page; Browse shows the rest.`));
    }
  }

  function onMessage(signal, { event, data }) {
    // A message that arrives after Pause is not shown and does not move the position: the next stream sends it.
    if (signal.aborted) return;
    if (event === "ready") {
      streamId = data.stream_id;
      if (position === null) position = Number(data.position);
      retryMs = RETRY_FIRST_MS;
      setStatus("live", `Live: showing every batch committed after #${formatNumber(position)}.`);
    } else if (event === "message") {
      showBatch(data);
      received.batches += 1;
      received.facts += data.length;
      position = Number(data[data.length - 1].sequence_number);
      showCounts();
    } else if (event === "progress") {
      position = Math.max(position ?? 0, Number(data.position));
    } else if (event === "end") {
      setStatus("waiting", `The server ended the stream (${data.reason}); reconnecting…`);
    }
  }

  async function connect() {
    clearTimeout(retryTimer);
    if (stopped || paused) return;
    controller = new AbortController();
    const { signal } = controller;
    setStatus("waiting", "Connecting…");
    try {
      await readEventStream(streamPath(), { signal, onMessage: (item) => onMessage(signal, item) });
      if (signal.aborted) return;
    } catch (error) {
      if (signal.aborted) return;
      setStatus("error", `Stream interrupted: ${error.message}. Reconnecting…`);
    }
    streamId = null;
    retryTimer = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  }

  function disconnect() {
    controller?.abort();
    controller = null;
    // The server notices the closed connection by itself; closing it explicitly releases it at once.
    if (streamId !== null) del(`/streams/${encodeURIComponent(streamId)}`).catch(() => {});
    streamId = null;
  }

  async function watchHead() {
    if (!paused || stopped) return;
    try {
      const { head } = await get("/head");
      if (paused && !stopped) {
        const waiting = Math.max((head ?? 0) - (position ?? 0), 0);
        setStatus("paused", `Paused after #${formatNumber(position ?? 0)} · the head is #${formatNumber(head ?? 0)} (${formatNumber(waiting)} newer facts in the log; Resume shows the matching ones).`);
      }
    } catch {
      // The status keeps its last text; the next tick tries again.
    }
    headTimer = setTimeout(watchHead, 1000);
  }

  function applyTypes() {
    types = typesInput.value;
    if (!paused) {
      disconnect();
      connect();
    }
  }

  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    if (paused) {
      disconnect();
      setStatus("paused", position === null ? "Paused." : `Paused after #${formatNumber(position)}.`);
      if (position === null) {
        // Paused before the stream said where it starts: resume after what the log holds now.
        get("/head").then(({ head }) => {
          if (position === null) position = head ?? 0;
        }, () => {});
      }
      watchHead();
    } else {
      clearTimeout(headTimer);
      connect();
    }
  });
  clear.addEventListener("click", () => {
    fill(list);
    fill(note);
    received = { batches: 0, facts: 0 };
    showCounts();
  });

  showCounts();
  connect();
  return () => {
    stopped = true;
    clearTimeout(retryTimer);
    clearTimeout(headTimer);
    disconnect();
  };
}
