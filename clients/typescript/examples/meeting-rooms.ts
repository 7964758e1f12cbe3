/**
 * Meeting-room slots with FACTSTR: decide with `appendIf`, read with a durable stream.
 *
 * A slot (a room at a time) is free, or reserved by one person. Reserving reads the slot's facts, decides,
 * and appends only if no new fact about the slot arrived in between (`appendIf` with the context version it
 * read). When two people race for one slot, exactly one wins; the other gets `ConditionalAppendConflict`,
 * reads again, and sees that the slot is taken. A booking board follows every reservation and cancellation
 * through a durable stream.
 *
 *     node dist/examples/meeting-rooms.js http://127.0.0.1:7117
 */

import { pathToFileURL } from "node:url";

import { ConditionalAppendConflict, type EventQuery, type EventRecord, FactstrClient } from "@factstr/client";

const RESERVED = "slot-reserved";
const CANCELLED = "reservation-cancelled";

interface Slot {
  readonly room: string;
  readonly start: string; // e.g. "2026-12-01T09:00"
}

/** The facts that decide about one slot: its reservations and cancellations. */
function slotContext(slot: Slot): EventQuery {
  return {
    filters: [{ event_types: [RESERVED, CANCELLED], payload_predicates: [{ room: slot.room, start: slot.start }] }],
  };
}

/** Who holds the slot after these facts, if anyone. */
function holder(records: readonly EventRecord[]): string | null {
  let current: string | null = null;
  for (const record of records) {
    const payload = record.payload as { person: string };
    if (record.event_type === RESERVED) current = payload.person;
    else if (record.event_type === CANCELLED && payload.person === current) current = null;
  }
  return current;
}

/** Reserve the slot for `person`; resolve false when someone else holds it. */
export async function reserve(client: FactstrClient, slot: Slot, person: string): Promise<boolean> {
  const context = slotContext(slot);
  for (;;) {
    const facts = await client.query(context);
    const current = holder(facts.event_records);
    if (current !== null) return current === person;
    try {
      await client.appendIf(
        [{ event_type: RESERVED, payload: { room: slot.room, start: slot.start, person } }],
        context,
        facts.current_context_version,
      );
      return true;
    } catch (error) {
      // Someone changed this slot since we read it: read again and decide again.
      if (!(error instanceof ConditionalAppendConflict)) throw error;
    }
  }
}

/** Cancel `person`'s reservation of the slot; resolve false when they do not hold it. */
export async function cancel(client: FactstrClient, slot: Slot, person: string): Promise<boolean> {
  const context = slotContext(slot);
  for (;;) {
    const facts = await client.query(context);
    if (holder(facts.event_records) !== person) return false;
    try {
      await client.appendIf(
        [{ event_type: CANCELLED, payload: { room: slot.room, start: slot.start, person } }],
        context,
        facts.current_context_version,
      );
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalAppendConflict)) throw error;
    }
  }
}

/** A read model: who holds which slot, kept current by a durable stream named `name`. */
export class BookingBoard {
  readonly slots = new Map<string, string>();

  apply(batch: readonly EventRecord[]): void {
    for (const record of batch) {
      const { room, start, person } = record.payload as { room: string; start: string; person: string };
      const key = `${room} @ ${start}`;
      if (record.event_type === RESERVED) this.slots.set(key, person);
      else if (this.slots.get(key) === person) this.slots.delete(key);
    }
  }

  render(): string {
    const slots = [...this.slots].sort(([a], [b]) => a.localeCompare(b));
    const lines = slots.map(([slot, person]) => `  ${slot}: ${person}`);
    return lines.length === 0 ? "  (no reservations)" : lines.join("\n");
  }
}

/** The whole story; returns the board as it ends. */
export async function main(baseUrl: string, boardName = "booking-board"): Promise<BookingBoard> {
  const token = process.env["FACTSTR_TOKEN"];
  const client = new FactstrClient({ baseUrl, ...(token === undefined ? {} : { token }) });
  const board = new BookingBoard();
  // This board lives in memory, so it starts empty and must replay from the beginning: `reset` rewinds the
  // stored cursor. A board kept in a database would keep its cursor and resume where it stopped. Either way
  // the name is held while the board runs (a second copy gets DurableStreamActive), and the server reports
  // its lag per name.
  const stream = await client.streamToDurable(
    boardName,
    { filters: [{ event_types: [RESERVED, CANCELLED] }] },
    (batch) => board.apply(batch),
    { reset: true, start: "beginning" },
  );
  try {
    const standup: Slot = { room: "Ada", start: "2026-12-01T09:00" };
    const review: Slot = { room: "Turing", start: "2026-12-01T14:00" };

    // Two people race for the same slot: exactly one of them gets it.
    const [alice, bob] = await Promise.all([reserve(client, standup, "alice"), reserve(client, standup, "bob")]);
    console.log(`alice ${alice ? "got" : "missed"} the standup slot, bob ${bob ? "got" : "missed"} it`);

    await reserve(client, review, "carol");
    const winner = alice ? "alice" : "bob";
    console.log(`${winner} cancels: ${await cancel(client, standup, winner)}`);
    console.log(`dave reserves the freed slot: ${await reserve(client, standup, "dave")}`);

    // Read your own writes: wait until the board has seen everything appended so far.
    await stream.waitUntil((await client.head()) ?? 0n, { timeoutMs: 10_000 });
    console.log(`booking board:\n${board.render()}`);
  } finally {
    await stream.unsubscribe();
  }
  return board;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv[2] ?? process.env["FACTSTR_URL"] ?? "http://127.0.0.1:7117");
}
