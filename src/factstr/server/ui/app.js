// The inspector's shell: the pages behind the links of the header, chosen by the URL's fragment
// (#/browse?before=120), and the one dialog that asks for the bearer token.

import { forgetToken, get, onTokenNeeded, storedToken } from "./api.js";
import { el, fill, message, modal } from "./dom.js";
import * as browse from "./browse.js";
import * as cursors from "./cursors.js";
import * as live from "./live.js";
import * as overview from "./overview.js";
import * as query from "./query.js";

const PAGES = { overview, browse, query, live, cursors };
const main = document.getElementById("page");
let unmount = null;
let config = { admin: false, version: "" };

/** The page and its parameters from the fragment: "#/browse?before=5" -> ["browse", URLSearchParams]. */
function route() {
  const [path, search] = location.hash.replace(/^#\/?/, "").split("?", 2);
  const name = PAGES[path] ? path : "overview";
  return [name, new URLSearchParams(search ?? "")];
}

/** Go to a page with parameters (a new history entry, so Back works). */
export function navigate(name, params = {}) {
  const search = new URLSearchParams(Object.entries(params).filter(([, value]) => value !== undefined && value !== null));
  const text = search.toString();
  location.hash = `#/${name}${text ? "?" + text : ""}`;
}

function show() {
  if (unmount) unmount();
  unmount = null;
  const [name, params] = route();
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.page === name);
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const container = el("section", { class: `page page-${name}`, id: `page-${name}` });
  fill(main, container);
  document.title = `${name[0].toUpperCase()}${name.slice(1)} · FACTSTR inspector`;
  try {
    unmount = PAGES[name].mount(container, { params, config, navigate }) ?? null;
  } catch (error) {
    fill(container, message("error", String(error)));
  }
}

function askForToken(refused) {
  let input;
  return modal(
    "This server needs a token",
    (form) => {
      form.append(
        el("p", {}, "Enter the bearer token the server was started with (--token or FACTSTR_TOKEN). It is kept in this tab only and sent in a header, never in a URL."),
      );
      if (refused) form.append(message("error", "The server refused that token."));
      input = el("input", { type: "password", name: "token", id: "token-input", autocomplete: "off", required: true, "aria-label": "Bearer token" });
      form.append(input);
    },
    [
      ["cancel", "Cancel"],
      ["ok", "Use this token", "primary"],
    ],
  ).then((answer) => {
    if (answer !== "ok") return null;
    updateTokenButton(true);
    return input.value.trim() || null;
  });
}

function updateTokenButton(present = storedToken() !== null) {
  document.getElementById("forget-token").hidden = !present;
}

async function start() {
  onTokenNeeded(askForToken);
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    if (response.ok) config = await response.json();
  } catch {
    // Keep the read-only defaults: the pages still work.
  }
  const mode = document.getElementById("mode");
  mode.textContent = config.admin ? "admin" : "read-only";
  mode.title = config.admin
    ? "Started with --ui-admin: cursors can be reset and deleted from the Cursors page."
    : "Cursors can be reset or deleted from here only when the server runs with --ui-admin.";
  mode.classList.toggle("badge-admin", Boolean(config.admin));
  document.getElementById("forget-token").addEventListener("click", () => {
    forgetToken();
    updateTokenButton(false);
    show();
  });
  updateTokenButton();
  // Ask for a token (when the server wants one) before any page runs, so that it is asked once, up front.
  try {
    await get("/head");
  } catch {
    // Cancelled or unreachable: each page says what it could not read.
  }
  window.addEventListener("hashchange", show);
  show();
}

start();
