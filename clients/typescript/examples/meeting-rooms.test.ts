// The meeting-room example's tests, written as an application's tests are: `node --test dist/examples/`.
//
// One local server (startServer) serves this file, and every test gets an empty store of its own from it: an
// ephemeral namespace (`server.freshStore()`, a few milliseconds), dropped when the test ends. So each test
// starts from an empty log, as with a new in-memory store, and the tests may use the very same rooms and names
// without seeing each other's facts. The server's `factstr` comes from $FACTSTR_BIN, else this repository's
// .venv (when there is one), else the PATH.
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

before(async () => {
  server = await startServer({ ...(executable === undefined ? {} : { executable }), timeoutMs: 10_000 });
});
after(async () => {
  await server.stop();
});

/** A test with an empty store of its own, dropped afterwards (with any stream the test left open). */
function storeTest(name: string, body: (client: FactstrClient) => Promise<void>): void {
  test(name, async () => {
    const client = await server.freshStore();
    try {
      assert.equal(await client.head(), null, "a fresh store is empty");
      await body(client);
    } finally {
      await client.dropNamespace(client.namespace, { force: true });
    }
  });
}

// Every test may use the same slots: each has a log of its own.
const ada: Slot = { room: "Ada", start: "2026-12-01T09:00" };

async function factsAbout(client: FactstrClient, slot: Slot): Promise<string[]> {
  const { event_records } = await client.query<{ person: string }>(slotContext(slot));
  return event_records.map((record) => `${record.event_type} ${record.payload.person}`);
}

describe("reserving and cancelling", () => {
  storeTest("a free slot can be reserved", async (client) => {
    assert.equal(await reserve(client, ada, "ada"), true);
    assert.deepEqual(await factsAbout(client, ada), [`${RESERVED} ada`]);
    assert.equal(await client.head(), 1n, "the first fact of a fresh store is number 1");
  });

  storeTest("a reserved slot cannot be reserved by someone else", async (client) => {
    await reserve(client, ada, "ada");
    assert.equal(await reserve(client, ada, "grace"), false);
    assert.deepEqual(await factsAbout(client, ada), [`${RESERVED} ada`]);
  });

  storeTest("reserving a slot one already holds changes nothing", async (client) => {
    await reserve(client, ada, "ada");
    assert.equal(await reserve(client, ada, "ada"), true);
    assert.deepEqual(await factsAbout(client, ada), [`${RESERVED} ada`]);
  });

  storeTest("only the holder can cancel", async (client) => {
    assert.equal(await cancel(client, ada, "ada"), false, "nobody holds it yet");
    await reserve(client, ada, "ada");
    assert.equal(await cancel(client, ada, "grace"), false);
    assert.equal(await cancel(client, ada, "ada"), true);
    assert.deepEqual(await factsAbout(client, ada), [`${RESERVED} ada`, "reservation-cancelled ada"]);
  });

  storeTest("a cancelled slot is free for the next person", async (client) => {
    await reserve(client, ada, "ada");
    await cancel(client, ada, "ada");
    assert.equal(await reserve(client, ada, "grace"), true);
    assert.equal(await reserve(client, ada, "ada"), false);
  });

  storeTest("of ten people racing for one slot, exactly one gets it", async (client) => {
    const people = Array.from({ length: 10 }, (_unused, index) => `person-${index}`);
    const outcomes = await Promise.all(people.map((person) => reserve(client, ada, person)));
    assert.equal(outcomes.filter(Boolean).length, 1);
    assert.deepEqual(await factsAbout(client, ada), [`${RESERVED} ${people[outcomes.indexOf(true)]}`]);
  });

  storeTest("another time in the same room, or another room at the same time, is another slot", async (client) => {
    const ten = { room: ada.room, start: "2026-12-01T10:00" };
    const elsewhere = { room: "Turing", start: ada.start };
    const outcomes = await Promise.all([
      reserve(client, ada, "ada"),
      reserve(client, ten, "grace"),
      reserve(client, elsewhere, "alan"),
    ]);
    assert.deepEqual(outcomes, [true, true, true]);
  });
});

describe("the booking board", () => {
  storeTest("replays the history, then follows new reservations and cancellations", async (client) => {
    const late = { room: "Turing", start: "2026-12-01T14:00" };
    await reserve(client, ada, "ada");
    const board = new BookingBoard();
    await board.follow(client, "board");
    try {
      await reserve(client, late, "grace");
      await cancel(client, ada, "ada");
      await board.caughtUp(await client.head());
      assert.deepEqual([...board.slots], [["Turing @ 2026-12-01T14:00", "grace"]]);
    } finally {
      await board.close();
    }
  });

  storeTest("a second board under the same name is refused while the first runs", async (client) => {
    const first = new BookingBoard();
    await first.follow(client, "board");
    try {
      await assert.rejects(new BookingBoard().follow(client, "board"), DurableStreamActive);
    } finally {
      await first.close();
    }
  });

  test("the same board name in two stores is two boards", async () => {
    const [one, two] = await Promise.all([server.freshStore(), server.freshStore()]);
    const boards = [new BookingBoard(), new BookingBoard()];
    try {
      await reserve(one, ada, "ada");
      await reserve(two, ada, "grace");
      await Promise.all([boards[0]!.follow(one, "board"), boards[1]!.follow(two, "board")]);
      await Promise.all([boards[0]!.caughtUp(await one.head()), boards[1]!.caughtUp(await two.head())]);
      assert.deepEqual([boards[0]!.slots.get("Ada @ 2026-12-01T09:00"), boards[1]!.slots.get("Ada @ 2026-12-01T09:00")], [
        "ada",
        "grace",
      ]);
    } finally {
      await Promise.all(boards.map((board) => board.close()));
      await Promise.all([one.dropNamespace(), two.dropNamespace()]);
    }
  });
});

describe("fresh stores", () => {
  test("a dropped store is gone; its name is free again", async () => {
    const store = await server.freshStore();
    await reserve(store, ada, "ada");
    await store.dropNamespace();
    assert.equal((await server.client.namespaces()).some(({ name }) => name === store.namespace), false);
    const again = await server.client.createNamespace({ name: store.namespace, ephemeral: true });
    try {
      assert.equal(await again.head(), null);
    } finally {
      await again.dropNamespace();
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

  storeTest("a second run against the same store finds the slots taken; its board replays the history", async (client) => {
    // The store's URL names its namespace (http://host:port/ns/NAME/), so main() needs nothing more.
    const boards = [await main(client.baseUrl, "story-board"), await main(client.baseUrl, "story-board")];
    for (const board of boards) {
      assert.deepEqual([...board.slots].sort(), [
        ["Ada @ 2026-12-01T09:00", "dave"],
        ["Turing @ 2026-12-01T14:00", "carol"],
      ]);
    }
  });
});
