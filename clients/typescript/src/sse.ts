/**
 * A reader of server-sent events (the WHATWG `text/event-stream` format) over a byte stream.
 *
 * Only what FACTSTR's server sends matters (`event`, `data`, `id`, comments), but the parser follows the
 * format's line rules (LF, CRLF or CR; a space after the colon is dropped) so a proxy's reformatting does
 * not break it. `onBytes` is called on every chunk, comments included: heartbeats are comments, and the
 * stream's watchdog only needs to know that the connection is alive.
 */

export interface ServerSentEvent {
  /** `message` when the server named no event. */
  readonly event: string;
  readonly data: string;
  readonly id: string | undefined;
}

export async function* readServerSentEvents(
  body: ReadableStream<Uint8Array>,
  onBytes: () => void,
): AsyncGenerator<ServerSentEvent, void, undefined> {
  const decoder = new TextDecoder();
  const reader = body.getReader();
  let buffer = "";
  let event = "";
  let data: string[] = [];
  let id: string | undefined;
  let scanned = 0; // the buffer holds no line end before this index
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      onBytes();
      buffer += decoder.decode(value, { stream: true });
      for (;;) {
        const end = lineEnd(buffer, scanned);
        if (end === undefined) {
          // A trailing CR stays unscanned: it may be the first half of a CRLF split across chunks.
          scanned = buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
          break;
        }
        scanned = 0;
        const line = buffer.slice(0, end.index);
        buffer = buffer.slice(end.index + end.length);
        if (line === "") {
          if (data.length > 0) yield { event: event === "" ? "message" : event, data: data.join("\n"), id };
          event = "";
          data = [];
          id = undefined;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
        else if (field === "id") id = value;
      }
    }
  } finally {
    // Leaving early (break, error, return) must free the connection.
    await reader.cancel().catch(() => undefined);
  }
}

function lineEnd(buffer: string, from: number): { index: number; length: number } | undefined {
  const lf = buffer.indexOf("\n", from);
  const cr = buffer.indexOf("\r", from);
  if (cr === -1 || (lf !== -1 && lf < cr)) return lf === -1 ? undefined : { index: lf, length: 1 };
  // A CR at the very end may be the first half of CRLF: wait for the next chunk.
  if (cr + 1 === buffer.length) return undefined;
  return { index: cr, length: buffer[cr + 1] === "\n" ? 2 : 1 };
}
