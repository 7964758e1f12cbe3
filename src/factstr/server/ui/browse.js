// Browse: the log newest first, a page at a time in either direction, or around a number (GET /log).

import { get } from "./api.js";
import { el, fill, formatNumber, message } from "./dom.js";
import { batchedFactsElement } from "./facts.js";

const SIZES = [20, 50, 100, 200];

function wholeNumber(text) {
  return /^\d+$/.test(text ?? "") ? Number(text) : null;
}

export function mount(container, { params, navigate }) {
  const limit = SIZES.includes(wholeNumber(params.get("limit"))) ? wholeNumber(params.get("limit")) : 50;
  const before = wholeNumber(params.get("before"));
  const after = wholeNumber(params.get("after"));
  const at = wholeNumber(params.get("at"));
  const go = (where) => navigate("browse", { ...where, limit: limit === 50 ? undefined : limit });

  const jumpInput = el("input", { type: "number", min: 1, step: 1, id: "jump-number", placeholder: "sequence number", "aria-label": "Jump to sequence number", value: at ?? undefined });
  const jump = el(
    "form",
    {
      class: "inline",
      id: "jump-form",
      onsubmit: (event) => {
        event.preventDefault();
        const number = wholeNumber(jumpInput.value.trim());
        if (number !== null && number > 0) go({ at: number });
      },
    },
    jumpInput,
    el("button", { type: "submit" }, "Jump"),
  );
  const size = el("select", { id: "page-size", "aria-label": "Facts per page", onchange: () => navigate("browse", { before: before ?? undefined, after: after ?? undefined, at: at ?? undefined, limit: size.value }) }, ...SIZES.map((n) => el("option", { value: n, selected: n === limit }, `${n} per page`)));
  const newest = el("button", { type: "button", id: "newest", onclick: () => go({}) }, "Newest");
  const newer = el("button", { type: "button", id: "newer", disabled: true }, "← Newer");
  const older = el("button", { type: "button", id: "older", disabled: true }, "Older →");
  const status = el("div", { class: "status-line", id: "browse-status" });
  const list = el("div", { id: "browse-list" });
  fill(container, el("h1", {}, "Browse"), el("div", { class: "toolbar" }, newest, newer, older, size, jump), status, list);

  let stopped = false;
  (async () => {
    const query = new URLSearchParams({ limit: String(limit) });
    // A jump shows the chosen fact at the top of its page, older facts below it.
    if (at !== null) query.set("before", String(at + 1));
    else if (before !== null) query.set("before", String(before));
    else if (after !== null) query.set("after", String(after));
    try {
      const page = await get(`/log?${query}`);
      if (stopped) return;
      const head = page.head ?? 0;
      const records = page.records;
      if (records.length === 0) {
        fill(status, head === 0 ? "The log is empty." : `No facts there: the head is #${formatNumber(head)}.`);
        newer.disabled = head === 0;
        newer.onclick = () => go({});
        return;
      }
      if (at !== null && at > head) fill(list, message("note", `#${formatNumber(at)} is beyond the head.`));
      const top = Number(records[0].sequence_number);
      const bottom = Number(records[records.length - 1].sequence_number);
      fill(status, `Facts #${formatNumber(top)} to #${formatNumber(bottom)}, newest first · head #${formatNumber(head)}`);
      newer.disabled = top >= head;
      newer.onclick = () => go({ after: top });
      older.disabled = bottom <= 1;
      older.onclick = () => go({ before: bottom });
      list.append(batchedFactsElement(records, { batchOf: (record) => record.batch_first_sequence_number, highlight: at ?? undefined }));
      if (at !== null) list.querySelector(".fact-highlight")?.scrollIntoView({ block: "center" });
    } catch (error) {
      if (!stopped) fill(status, message("error", `Could not read the log: ${error.message}`));
    }
  })();
  return () => {
    stopped = true;
  };
}
