// The example in examples/ runs against a real server, as a user would run it, and tells the right story.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, test } from "node:test";

import { main } from "../examples/meeting-rooms.js";
import { TestServer } from "./server.js";

let server: TestServer;

before(async () => {
  server = await TestServer.start();
});
after(async () => {
  await server.close();
});

test("the meeting-room example runs from the command line", async () => {
  const script = fileURLToPath(new URL("../examples/meeting-rooms.js", import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [script, server.url]);
  assert.match(stdout, /^alice (got|missed) the standup slot, bob (got|missed) it$/m);
  assert.match(stdout, /dave reserves the freed slot: true/);
  assert.match(stdout, /Ada @ 2026-12-01T09:00: dave/);
  assert.match(stdout, /Turing @ 2026-12-01T14:00: carol/);
});

test("a second run finds the slots taken, and its board replays the whole history", async () => {
  const board = await main(server.url);
  assert.deepEqual(
    [...board.slots].sort(),
    [
      ["Ada @ 2026-12-01T09:00", "dave"],
      ["Turing @ 2026-12-01T14:00", "carol"],
    ],
  );
});
