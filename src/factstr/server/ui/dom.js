// Small DOM helpers. Text always goes in as text (textContent), never as HTML: payloads are untrusted.

/** Create an element: `el("a", {href: "#/", class: "x", onclick: f}, "text", child, ...)`. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace the children of `node` with `children`. */
export function fill(node, ...children) {
  node.replaceChildren();
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) node.append(child);
  }
  return node;
}

/** A commit time for people: local date and time to the millisecond; the exact UTC text as a tooltip. */
export function timeElement(occurredAt) {
  const moment = new Date(occurredAt);
  const text = Number.isNaN(moment.getTime())
    ? occurredAt
    : moment.toLocaleString(undefined, {
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
        fractionalSecondDigits: 3,
        hour12: false,
      });
  return el("time", { datetime: occurredAt, title: `${occurredAt} (UTC)` }, text);
}

export function formatNumber(value) {
  return typeof value === "number" ? value.toLocaleString("en-US") : String(value);
}

/** Put text on the clipboard; where the Clipboard API is unavailable (plain http), select and copy. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = el("textarea", { class: "offscreen", readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    const copied = document.execCommand("copy");
    area.remove();
    return copied;
  }
}

/** A message line for errors and notes; `kind` is "error", "note" or "ok". */
export function message(kind, text) {
  return el("p", { class: `message message-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/**
 * Show a modal dialog and resolve with the value of the button that closed it ("" when dismissed).
 * `build(form)` fills the form; buttons with a `value` close the dialog.
 */
export function modal(title, build, buttons) {
  return new Promise((resolve) => {
    const form = el("form", { method: "dialog" });
    const dialog = el("dialog", { class: "modal" }, form);
    form.append(el("h2", {}, title));
    build(form);
    const row = el("div", { class: "modal-buttons" });
    for (const [value, label, kind] of buttons) {
      // Cancel closes without checking the fields; Enter submits the first real answer.
      const cancel = value === "cancel";
      row.append(
        el("button", { value, class: kind ?? "", type: cancel ? "button" : "submit", "data-button": value, onclick: cancel ? () => dialog.close("cancel") : undefined }, label),
      );
    }
    form.append(row);
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
