/**
 * Meeting-room slots with FACTSTR: decide with `appendIf`, read with a durable stream.
 *
 * A slot (a room at a time) is free, or reserved by one person. Reserving reads the slot's facts, decides,
 * and appends only if no new fact about the slot arrived in between (`appendIf` with the context version it
 * read). When two people race for one slot, exactly one wins; the other gets `ConditionalAppendConflict`,
 * reads again, and sees that the slot is taken. A booking board follows every reservation and cancellation
 * through a durable stream, consumed as an async iterator.
 *
 *     npm run build
 *     node dist/examples/meeting-rooms.js                          # starts a local server of its own
 *     node dist/examples/meeting-rooms.js http://127.0.0.1:7117    # or talks to a running one
 *     node --test dist/examples/                                   # its tests
 */

import { pathToFileURL } from "node:url";

import {
  type BatchIterator,
  ConditionalAppendConflict,
  type EventQuery,
  type EventRecord,
  FactstrClient,
  type NewEvent,
  startServer,
} from "@factstr/client";

export const RESERVED = "slot-reserved";
export const CANCELLED = "reservation-cancelled";

/** A room at a time. */
export interface Slot {
  readonly room: string;
  readonly start: string; // e.g. "2026-12-01T09:00"
}

/** The payload of both facts: who reserved, or cancelled, which slot. */
export interface SlotFact extends Slot {
  readonly person: string;
}

/** The facts that decide about one slot: its reservations and cancellations. */
export function slotContext(slot: Slot): EventQuery {
  return {
    filters: [{ event_types: [RESERVED, CANCELLED], payload_predicates: [{ room: slot.room, start: slot.start }] }],
  };
}

/** Who holds the slot after these facts, if anyone. */
function holder(records: readonly EventRecord<SlotFact>[]): string | null {
  let current: string | null = null;
  for (const { event_type, payload } of records) {
    if (event_type === RESERVED) current = payload.person;
    else if (event_type === CANCELLED && payload.person === current) current = null;
  }
  return current;
}

function fact(eventType: string, slot: Slot, person: string): NewEvent<SlotFact> {
  return { event_type: eventType, payload: { room: slot.room, start: slot.start, person } };
}

/** Reserve the slot for `person`; resolve false when someone else holds it. */
export async function reserve(client: FactstrClient, slot: Slot, person: string): Promise<boolean> {
  const context = slotContext(slot);
  for (;;) {
    const facts = await client.query<SlotFact>(context);
    const current = holder(facts.event_records);
    if (current !== null) return current === person;
    try {
      await client.appendIf([fact(RESERVED, slot, person)], context, facts.current_context_version);
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
    const facts = await client.query<SlotFact>(context);
    if (holder(facts.event_records) !== person) return false;
    try {
      await client.appendIf([fact(CANCELLED, slot, person)], context, facts.current_context_version);
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalAppendConflict)) throw error;
    }
  }
}

/** A read model: who holds which slot, kept current by a durable stream. */
export class BookingBoard {
  readonly slots = new Map<string, string>();
  private batches: BatchIterator<SlotFact> | undefined;
  private following: Promise<void> = Promise.resolve();

  /**
   * Follow every reservation and cancellation under the durable name `name`; resolves once the stream is
   * registered. This board lives in memory, so it starts empty and must replay from the beginning: `reset`
   * rewinds the stored cursor. A board kept in a database would keep its cursor and resume where it stopped.
   * Either way the name is held while the board runs (a second copy gets `DurableStreamActive`), and the
   * server reports its lag per name.
   */
  async follow(client: FactstrClient, name: string): Promise<void> {
    const bookings = { filters: [{ event_types: [RESERVED, CANCELLED] }] };
    const batches = client.streamToDurable<SlotFact>(name, bookings, { reset: true, start: "beginning" });
    await batches.ready();
    this.batches = batches;
    // The board's own loop: one committed batch at a time, in order; the stored cursor passes a batch once
    // apply() returned and the loop asked for the next one.
    const loop = (async () => {
      for await (const batch of batches) this.apply(batch);
    })();
    loop.catch(() => undefined); // a failure is reported by close()
    this.following = loop;
  }

  /** Resolve once the board applied everything up to `sequenceNumber` (read your own writes). */
  async caughtUp(sequenceNumber: bigint | null): Promise<void> {
    if (this.batches === undefined) throw new Error("the board follows nothing yet: call follow() first");
    if (!(await this.batches.waitUntil(sequenceNumber ?? 0n, { timeoutMs: 10_000 }))) {
      throw new Error(`the booking board did not reach ${sequenceNumber} within 10 s`);
    }
  }

  /** Stop following; rejects with the stream's failure, if it failed. */
  async close(): Promise<void> {
    await this.batches?.unsubscribe();
    await this.following;
  }

  apply(batch: readonly EventRecord<SlotFact>[]): void {
    for (const { event_type, payload } of batch) {
      const key = `${payload.room} @ ${payload.start}`;
      if (event_type === RESERVED) this.slots.set(key, payload.person);
      else if (this.slots.get(key) === payload.person) this.slots.delete(key);
    }
  }

  render(): string {
    const slots = [...this.slots].sort(([a], [b]) => a.localeCompare(b));
    const lines = slots.map(([slot, person]) => `  ${slot}: ${person}`);
    return lines.length === 0 ? "  (no reservations)" : lines.join("\n");
  }
}

/**
 * The whole story against the server at `baseUrl`, or, without one, against a local server of its own
 * (`factstr serve` over a memory store, started and stopped here). Returns the board as it ends.
 */
export async function main(baseUrl?: string, boardName = "booking-board"): Promise<BookingBoard> {
  const token = process.env["FACTSTR_TOKEN"];
  const server = baseUrl === undefined ? await startServer() : undefined;
  const client = server?.client ?? new FactstrClient({ baseUrl: baseUrl!, ...(token === undefined ? {} : { token }) });
  const board = new BookingBoard();
  try {
    await board.follow(client, boardName);
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
    await board.caughtUp(await client.head());
    console.log(`booking board:\n${board.render()}`);
  } finally {
    await board.close();
    await server?.stop();
  }
  return board;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv[2] ?? process.env["FACTSTR_URL"]);
}
