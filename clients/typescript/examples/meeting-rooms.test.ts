// The meeting-room example's tests, written as an application's tests are: `node --test dist/examples/`.
//
// One local server (startServer) serves this file; every test works on rooms of its own, so the tests do not
// see each other's facts. The server's `factstr` comes from $FACTSTR_BIN, else this repository's .venv (when
// there is one), else the PATH.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";

import { DurableStreamActive, type FactstrClient, type LocalServer, startServer } from "@factstr/client";
import { BookingBoard, cancel, main, RESERVED, reserve, type Slot, slotContext } from "./meeting-rooms.js";

const repositoryFactstr = fileURLToPath(new URL("../../../../.venv/bin/factstr", import.meta.url));
const executable = process.env["FACTSTR_BIN"] ?? (existsSync(repositoryFactstr) ? repositoryFactstr : undefined);

let server: LocalServer;
let client: FactstrClient;

before(async () => {
  server = await startServer({ ...(executable === undefined ? {} : { executable }), timeoutMs: 10_000 });
  client = server.client;
});
after(async () => {
  await server.stop();
});

let rooms = 0;
/** A slot in a room no other test uses. */
function freshSlot(start = "2026-12-01T09:00"): Slot {
  rooms += 1;
  return { room: `room-${rooms}-${Math.random().toString(36).slice(2, 8)}`, start };
}

async function factsAbout(slot: Slot): Promise<string[]> {
  const { event_records } = await client.query<{ person: string }>(slotContext(slot));
  return event_records.map((record) => `${record.event_type} ${record.payload.person}`);
}

describe("reserving and cancelling", () => {
  test("a free slot can be reserved", async () => {
    const slot = freshSlot();
    assert.equal(await reserve(client, slot, "ada"), true);
    assert.deepEqual(await factsAbout(slot), [`${RESERVED} ada`]);
  });

  test("a reserved slot cannot be reserved by someone else", async () => {
    const slot = freshSlot();
    await reserve(client, slot, "ada");
    assert.equal(await reserve(client, slot, "grace"), false);
    assert.deepEqual(await factsAbout(slot), [`${RESERVED} ada`]);
  });

  test("reserving a slot one already holds changes nothing", async () => {
    const slot = freshSlot();
    await reserve(client, slot, "ada");
    assert.equal(await reserve(client, slot, "ada"), true);
    assert.deepEqual(await factsAbout(slot), [`${RESERVED} ada`]);
  });

  test("only the holder can cancel", async () => {
    const slot = freshSlot();
    assert.equal(await cancel(client, slot, "ada"), false, "nobody holds it yet");
    await reserve(client, slot, "ada");
    assert.equal(await cancel(client, slot, "grace"), false);
    assert.equal(await cancel(client, slot, "ada"), true);
    assert.deepEqual(await factsAbout(slot), [`${RESERVED} ada`, "reservation-cancelled ada"]);
  });

  test("a cancelled slot is free for the next person", async () => {
    const slot = freshSlot();
    await reserve(client, slot, "ada");
    await cancel(client, slot, "ada");
    assert.equal(await reserve(client, slot, "grace"), true);
    assert.equal(await reserve(client, slot, "ada"), false);
  });

  test("of ten people racing for one slot, exactly one gets it", async () => {
    const slot = freshSlot();
    const people = Array.from({ length: 10 }, (_unused, index) => `person-${index}`);
    const outcomes = await Promise.all(people.map((person) => reserve(client, slot, person)));
    assert.equal(outcomes.filter(Boolean).length, 1);
    const facts = await factsAbout(slot);
    assert.deepEqual(facts, [`${RESERVED} ${people[outcomes.indexOf(true)]}`]);
  });

  test("another time in the same room, or another room at the same time, is another slot", async () => {
    const nine = freshSlot("2026-12-01T09:00");
    const ten = { room: nine.room, start: "2026-12-01T10:00" };
    const elsewhere = freshSlot("2026-12-01T09:00");
    const outcomes = await Promise.all([
      reserve(client, nine, "ada"),
      reserve(client, ten, "grace"),
      reserve(client, elsewhere, "alan"),
    ]);
    assert.deepEqual(outcomes, [true, true, true]);
  });
});

describe("the booking board", () => {
  test("replays the history, then follows new reservations and cancellations", async () => {
    const early = freshSlot();
    const late = freshSlot();
    await reserve(client, early, "ada");
    const board = new BookingBoard();
    await board.follow(client, `board-${rooms}`);
    try {
      await reserve(client, late, "grace");
      await cancel(client, early, "ada");
      await board.caughtUp(await client.head());
      assert.equal(board.slots.has(`${early.room} @ ${early.start}`), false);
      assert.equal(board.slots.get(`${late.room} @ ${late.start}`), "grace");
    } finally {
      await board.close();
    }
  });

  test("a second board under the same name is refused while the first runs", async () => {
    const name = `board-${rooms}-twice`;
    const first = new BookingBoard();
    await first.follow(client, name);
    try {
      await assert.rejects(new BookingBoard().follow(client, name), DurableStreamActive);
    } finally {
      await first.close();
    }
  });
});

describe("the whole story", () => {
  test("runs from the command line with a local server of its own", async () => {
    const script = fileURLToPath(new URL("./meeting-rooms.js", import.meta.url));
    const env = { ...process.env, ...(executable === undefined ? {} : { FACTSTR_BIN: executable }) };
    const { stdout } = await promisify(execFile)(process.execPath, [script], { env });
    assert.match(stdout, /^alice (got|missed) the standup slot, bob (got|missed) it$/m);
    assert.match(stdout, /dave reserves the freed slot: true/);
    assert.match(stdout, /Ada @ 2026-12-01T09:00: dave/);
    assert.match(stdout, /Turing @ 2026-12-01T14:00: carol/);
  });

  test("a second run against the same server finds the slots taken; its board replays the history", async () => {
    const boards = [await main(server.url, "story-board"), await main(server.url, "story-board")];
    for (const board of boards) {
      assert.deepEqual(
        [...board.slots].filter(([slot]) => slot.startsWith("Ada ") || slot.startsWith("Turing ")).sort(),
        [
          ["Ada @ 2026-12-01T09:00", "dave"],
          ["Turing @ 2026-12-01T14:00", "carol"],
        ],
      );
    }
  });
});
