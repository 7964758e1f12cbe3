// Drawing facts: number, type, commit time, batch, and the payload as a collapsible tree.

import { el, formatNumber, timeElement } from "./dom.js";
import { renderJson } from "./json.js";

/** One fact as a list item. */
export function factElement(record, { highlight = false } = {}) {
  const number = Number(record.sequence_number);
  return el(
    "li",
    { class: highlight ? "fact fact-highlight" : "fact", dataset: { sequenceNumber: String(record.sequence_number) } },
    el(
      "div",
      { class: "fact-head" },
      el("span", { class: "fact-number" }, `#${formatNumber(number)}`),
      el("span", { class: "fact-type" }, record.event_type),
      timeElement(record.occurred_at),
    ),
    el("div", { class: "fact-payload" }, renderJson(record.payload)),
  );
}

/**
 * Facts grouped by committed batch, in the order given. `batchOf(record)` returns the first sequence number of
 * the record's batch (null when unknown); consecutive records of one batch share one frame and one label.
 */
export function batchedFactsElement(records, { batchOf, highlight } = {}) {
  const list = el("div", { class: "batches" });
  let frame = null;
  let current;
  for (const record of records) {
    const batch = batchOf ? batchOf(record) : null;
    if (frame === null || batch === null || batch !== current) {
      current = batch;
      const label =
        batch === null
          ? null
          : el("div", { class: "batch-label" }, `batch from #${formatNumber(Number(batch))}`, " · ", timeElement(record.occurred_at));
      frame = el("ol", { class: "facts" });
      list.append(el("section", { class: batch === null ? "batch batch-unknown" : "batch", dataset: { batch: batch ?? "" } }, label, frame));
    }
    frame.append(factElement(record, { highlight: highlight !== undefined && Number(record.sequence_number) === highlight }));
  }
  return list;
}
