// Error messages in the client's words: what the server says in Python's terms reaches a TypeScript user in
// TypeScript's (`reset: true`, "name", payload["key"], string and integer, null, 2^63 - 1).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  DurableStreamMismatch,
  type EventQuery,
  type FactstrClient,
  InvalidInput,
  type LocalServer,
  startServer,
  UnknownDurableStream,
} from "@factstr/client";
import { inClientWords } from "../src/messages.js";
import { factstrExecutable, unique } from "./server.js";

describe("inClientWords", () => {
  test("rewrites Python's forms and leaves the rest as it is", () => {
    const cases: [string, string][] = [
      [
        "durable stream 'board' is stored with another query; pass reset=True to replace it",
        'durable stream "board" is stored with another query; pass reset: true to replace it',
      ],
      ["no durable stream named 'it\\'s \\\\ \\u00e9\\x41'", 'no durable stream named "it\'s \\\\ éA"'],
      ["durable stream \"it's\" is already active", 'durable stream "it\'s" is already active'],
      ["events[0].payload['room']['a b'] contains a NUL character", 'events[0].payload["room"]["a b"] contains a NUL character'],
      [
        "the request does not have the expected shape: Expected `str`, got `int` - at `$.events[0].event_type`",
        "the request does not have the expected shape: Expected `string`, got `integer` - at `$.events[0].event_type`",
      ],
      ["Expected `array | null`, got `float` - at `$.filters`", "Expected `array | null`, got `number` - at `$.filters`"],
      ["Object contains unknown field `int` - at `$`", "Object contains unknown field `int` - at `$`"],
      [
        'start must be "beginning", "end" or a non-negative int, got \'-5\'',
        'start must be "beginning", "end" or a non-negative integer, got "-5"',
      ],
      ["x must be a str, got int", "x must be a string, got int"],
      ["x must be a non-negative int or None, got str", "x must be a non-negative integer or null, got str"],
      ["limit must be at most 9223372036854775807 (2**63 - 1)", "limit must be at most 9223372036854775807 (2^63 - 1)"],
      ["conditional append conflict: expected context version None, actual 4", "conditional append conflict: expected context version null, actual 4"],
      ["the server's store is closed", "the server's store is closed"],
      ["the database is unavailable: no answer within 1 s", "the database is unavailable: no answer within 1 s"],
    ];
    for (const [server, client] of cases) assert.equal(inClientWords(server), client);
  });
});

describe("errors from the server", () => {
  let server: LocalServer;
  let client: FactstrClient;
  before(async () => {
    server = await startServer({ executable: factstrExecutable });
    client = server.client;
  });
  after(async () => {
    await server.stop();
  });

  const query = (type: string): EventQuery => ({ filters: [{ event_types: [type] }] });

  test("a durable name with another query: pass reset: true", async () => {
    const name = unique("it's-a-board");
    const stream = await client.streamToDurable(name, query("a"), () => undefined);
    await stream.unsubscribe();
    const error = await client.streamToDurable(name, query("b"), () => undefined).catch((caught: unknown) => caught);
    assert.ok(error instanceof DurableStreamMismatch);
    assert.equal(error.message, `durable stream ${JSON.stringify(name)} is stored with another query; pass reset: true to replace it`);
    const iterated = client.streamToDurable(name, query("b"));
    await assert.rejects(iterated.next(), (caught: unknown) => caught instanceof Error && caught.message.includes("reset: true"));
  });

  test("names and paths are quoted as JavaScript quotes them", async () => {
    const missing = await client.resetDurableStream("no 'such' name", 0).catch((caught: unknown) => caught);
    assert.ok(missing instanceof UnknownDurableStream);
    assert.equal(missing.message, `no durable stream named "no 'such' name"`);
    const nul = await client.append([{ event_type: "x", payload: { "a'b": "\u0000" } }]).catch((caught: unknown) => caught);
    assert.ok(nul instanceof InvalidInput);
    assert.equal(nul.message, `events[0].payload["a'b"] contains a NUL character`);
  });

  test("types and limits are named as in JSON and TypeScript", async () => {
    const shape = await client.append([{ event_type: 5 as unknown as string, payload: 1 }]).catch((caught: unknown) => caught);
    assert.ok(shape instanceof InvalidInput);
    assert.match(shape.message, /Expected `string`, got `integer`/);
    const large = await client.query({ min_sequence_number: 2n ** 63n }).catch((caught: unknown) => caught);
    assert.ok(large instanceof InvalidInput);
    assert.match(large.message, /\(2\^63 - 1\)$/);
    const start = await client.streamTo({}, () => undefined, { start: -5 }).catch((caught: unknown) => caught);
    assert.ok(start instanceof InvalidInput);
    assert.match(start.message, /a non-negative integer, got "-5"$/);
  });
});
