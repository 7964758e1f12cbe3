// Overview: the head, the store, facts per type and the append rate of the last minutes (GET /stats).

import { get } from "./api.js";
import { el, fill, formatNumber, message } from "./dom.js";

const REFRESH_MS = 2000;
// While the counts are still catching up with the log, look again sooner.
const CATCHING_UP_MS = 300;
const MAX_TYPES_SHOWN = 200;
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function card(label, value, note, id) {
  return el("div", { class: "card", id }, el("div", { class: "card-label" }, label), el("div", { class: "card-value" }, value), note ? el("div", { class: "card-note" }, note) : null);
}

/** A bar per bucket, facts per second on the vertical axis; each bar's tooltip says what it counts. */
function rateChart(rate) {
  const width = 720;
  const height = 160;
  const left = 44;
  const bottom = 22;
  const top = 10;
  const buckets = rate.buckets;
  const seconds = rate.bucket_seconds;
  const perSecond = buckets.map((bucket) => bucket.facts / seconds);
  const peak = Math.max(...perSecond, 0);
  const scale = peak > 0 ? peak : 1;
  const slot = (width - left) / buckets.length;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "rate-chart", role: "img", "aria-label": "Facts appended per second over the last minutes" });
  const plot = height - bottom - top;
  chart.append(svg("line", { x1: left, y1: top + plot, x2: width, y2: top + plot, class: "axis" }));
  chart.append(svg("text", { x: left - 6, y: top + 8, class: "tick", "text-anchor": "end" }, formatRate(scale)));
  chart.append(svg("text", { x: left - 6, y: top + plot, class: "tick", "text-anchor": "end" }, "0"));
  buckets.forEach((bucket, index) => {
    const barHeight = (perSecond[index] / scale) * plot;
    const when = new Date(bucket.start).toLocaleTimeString(undefined, { hour12: false });
    const bar = svg("rect", {
      x: left + index * slot + 1,
      y: top + plot - barHeight,
      width: Math.max(slot - 2, 1),
      height: Math.max(barHeight, bucket.facts > 0 ? 1 : 0),
      class: "bar",
      "data-facts": bucket.facts,
    });
    bar.append(svg("title", {}, `${when}: ${bucket.facts} facts in ${bucket.batches} batches (${formatRate(perSecond[index])}/s)`));
    chart.append(bar);
  });
  const minutes = Math.round((buckets.length * seconds) / 60);
  chart.append(svg("text", { x: left, y: height - 4, class: "tick" }, `${minutes} min ago`));
  chart.append(svg("text", { x: width, y: height - 4, class: "tick", "text-anchor": "end" }, "now"));
  return chart;
}

function formatRate(value) {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2).replace(/\.?0+$/, "") || "0";
}

function typeTable(stats, navigate) {
  const total = stats.event_types.reduce((sum, item) => sum + item.count, 0) + stats.other_types_count;
  if (total === 0) return el("p", { class: "empty" }, "No facts counted yet.");
  const body = el("tbody");
  for (const item of stats.event_types.slice(0, MAX_TYPES_SHOWN)) {
    const share = total ? item.count / total : 0;
    body.append(
      el(
        "tr",
        { dataset: { eventType: item.event_type } },
        el("td", {}, el("a", { href: "#", onclick: (event) => { event.preventDefault(); navigate("query", { type: item.event_type }); } }, item.event_type)),
        el("td", { class: "number type-count" }, formatNumber(item.count)),
        el("td", { class: "share" }, el("span", { class: "share-bar", dataset: { share: share.toFixed(4) } }), `${(share * 100).toFixed(1)}%`),
      ),
    );
  }
  const hidden = stats.event_types.length - MAX_TYPES_SHOWN;
  if (hidden > 0) {
    const facts = stats.event_types.slice(MAX_TYPES_SHOWN).reduce((sum, item) => sum + item.count, 0);
    body.append(el("tr", {}, el("td", {}, el("em", {}, `${formatNumber(hidden)} less frequent types`)), el("td", { class: "number" }, formatNumber(facts)), el("td")));
  }
  if (stats.other_types_count > 0) {
    body.append(el("tr", {}, el("td", {}, el("em", {}, "other types")), el("td", { class: "number" }, formatNumber(stats.other_types_count)), el("td")));
  }
  const table = el("table", { class: "types" }, el("thead", {}, el("tr", {}, el("th", {}, "Event type"), el("th", { class: "number" }, "Facts"), el("th", {}, "Share"))), body);
  // Widths through the CSSOM: the page's policy allows no inline style attributes.
  for (const bar of table.querySelectorAll(".share-bar")) bar.style.width = `${Number(bar.dataset.share) * 100}%`;
  return table;
}

export function mount(container, { navigate }) {
  const cards = el("div", { class: "cards" });
  const chart = el("div", { class: "chart" });
  const types = el("div", { class: "types-wrap" });
  const status = el("div", { class: "status-line" });
  fill(
    container,
    el("h1", {}, "Overview"),
    status,
    cards,
    el("h2", {}, "Append rate"),
    el("p", { class: "hint" }, "Facts committed per second over the last minutes, by commit time."),
    chart,
    el("h2", {}, "Facts per type"),
    types,
  );
  let timer = null;
  let stopped = false;

  let catchingUp = true;

  async function refresh() {
    try {
      const stats = await get("/stats");
      if (stopped) return;
      const head = stats.head ?? 0;
      const counting = stats.counted_through < head;
      catchingUp = counting;
      fill(
        cards,
        card("Head", head ? `#${formatNumber(head)}` : "empty", head ? "highest committed sequence number" : "no fact yet", "card-head"),
        card("Store", stats.store_kind, null, "card-store"),
        card("Version", `factstr ${stats.version}`, null, "card-version"),
        card(
          "Counted",
          counting ? `${Math.floor((stats.counted_through / head) * 100)}%` : "all",
          counting ? `counting… through #${formatNumber(stats.counted_through)}` : "counts are current",
          "card-counted",
        ),
      );
      fill(chart, rateChart(stats.append_rate));
      fill(types, counting && stats.event_types.length === 0 ? el("p", { class: "empty" }, "Counting…") : typeTable(stats, navigate));
      fill(status);
    } catch (error) {
      if (!stopped) fill(status, message("error", `Could not read /stats: ${error.message}`));
    }
    if (!stopped) timer = setTimeout(refresh, catchingUp ? CATCHING_UP_MS : REFRESH_MS);
  }
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
