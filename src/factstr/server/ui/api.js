// Talking to the FACTSTR HTTP API of the server that served this page (same origin, same auth).
//
// The bearer token, when the server wants one, is asked for once and kept in sessionStorage (this tab only,
// gone when it closes). It travels only in the Authorization header, never in a URL. Event streams need
// that header too, which EventSource cannot send: streams are read with fetch() and a ReadableStream.

import { parseJson } from "./json.js";

const TOKEN_KEY = "factstr.token";

/** An error answer of the API: its HTTP status, its stable code and its message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let askForToken = async () => null;
let pendingToken = null;

/** Set the function that asks the user for a token (returns a string, or null when they cancel). */
export function onTokenNeeded(ask) {
  askForToken = ask;
}

export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

async function newToken(refused) {
  // Several requests may be refused at once: ask only once and let them all wait for the answer.
  if (pendingToken === null) {
    pendingToken = askForToken(refused).finally(() => {
      pendingToken = null;
    });
  }
  const token = await pendingToken;
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  return token;
}

function headersFor(extra) {
  const headers = { ...extra };
  const token = storedToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

async function errorOf(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    return new ApiError(response.status, body.code ?? "error", body.message ?? text);
  } catch {
    return new ApiError(response.status, "error", text || response.statusText);
  }
}

/**
 * Send one request and return the fetch Response once it is not a 401; on a 401 ask for a token and retry.
 * `body` is JSON text (sent with Content-Type: application/json, as the API's cross-site checks expect).
 */
export async function send(method, path, { body, signal, headers } = {}) {
  for (;;) {
    const extra = { ...(headers ?? {}) };
    if (body !== undefined) extra["Content-Type"] = "application/json";
    const sentToken = storedToken();
    const response = await fetch(path, {
      method,
      body,
      signal,
      headers: headersFor(extra),
      credentials: "same-origin",
      cache: "no-store",
    });
    if (response.status !== 401) return response;
    await response.body?.cancel();
    if (sentToken !== null && storedToken() === sentToken) forgetToken();
    const token = await newToken(sentToken !== null);
    if (!token) throw new ApiError(401, "unauthorized", "a valid bearer token is required");
  }
}

/** Send a request and return its decoded JSON body (null for 204); throw ApiError for an error answer. */
export async function call(method, path, options = {}) {
  const response = await send(method, path, options);
  if (!response.ok) throw await errorOf(response);
  if (response.status === 204) return null;
  return parseJson(await response.text());
}

export const get = (path, options) => call("GET", path, options);
export const post = (path, bodyText, options = {}) => call("POST", path, { ...options, body: bodyText });
export const del = (path, options) => call("DELETE", path, options);

/**
 * Open a server-sent event stream with fetch and call `onMessage({event, data, id})` for every message.
 * Resolves when the stream ends (server `end`, connection closed); rejects on HTTP or network errors.
 * Abort it with `signal`.
 */
export async function readEventStream(path, { signal, onMessage }) {
  const response = await send("GET", path, { signal, headers: { Accept: "text/event-stream" } });
  if (!response.ok) throw await errorOf(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = "message";
  let id = null;
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      if (line === "") {
        if (data.length > 0) onMessage({ event, data: parseJson(data.join("\n")), id });
        event = "message";
        id = null;
        data = [];
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const content = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = content;
        else if (field === "data") data.push(content);
        else if (field === "id") id = content;
      }
    }
  }
}
