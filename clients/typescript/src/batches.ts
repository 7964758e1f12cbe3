/**
 * A stream's committed batches as an async iterator: `for await (const batch of client.streamTo(query))`.
 *
 * It is an {@link EventStream} whose handler hands each batch to the loop and returns only when the loop asks
 * for the next one. Everything the stream does for a handler therefore holds for the loop too: one batch at a
 * time, reconnection without gap or duplicate, and a durable cursor that passes a batch only once it was
 * handled, which for a loop means: once its body finished and `next()` was called again. While the loop body
 * runs, the stream reads nothing more from the connection, so a slow loop slows the server's sending down
 * (through TCP) instead of piling batches up in memory.
 */

import { type BatchHandler, type EventStream, type StreamClosed, StopDelivery } from "./stream.js";
import type { EventRecord, JsonValue } from "./types.js";

/** One batch on its way through the loop; settling it lets the stream go on. */
interface Delivery {
  readonly batch: readonly EventRecord[];
  /** The loop finished the batch: the stream acknowledges it (durable) and reads on. */
  readonly finish: () => void;
  /** The loop left without finishing it: the stream stops, the batch counts as not handled. */
  readonly abandon: () => void;
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * The batches of one stream, in commit order, one `readonly EventRecord<T>[]` per committed batch.
 *
 * Registration starts when the iterator is created; `await batches.ready()` waits for it (whatever is
 * committed after that reaches the loop). `break`, `return` or an exception in the loop body unsubscribe;
 * the batch the loop was in then counts as not handled, so a durable stream delivers it again at the next
 * registration. `unsubscribe()` (also from inside the loop body) counts the current batch as handled and ends
 * the loop. When the stream fails (the server refused to resume it, for example), `next()` rejects with the
 * failure; when the server ends it for good, the loop ends.
 */
export class BatchIterator<T = JsonValue> implements AsyncIterableIterator<readonly EventRecord<T>[]> {
  private readonly stream: EventStream;
  private readonly registration: Promise<void>;
  /** The batch the stream handed over and the loop has not finished. */
  private delivery: Delivery | undefined;
  /** Whether the loop has taken `delivery` (is running its body on it). */
  private taken = false;
  private stopped = false;
  private streamClosed: StreamClosed | undefined;
  /** Wakes a `next()` waiting for a batch or for the end. */
  private wake: () => void = () => undefined;
  /** Calls of `next()` run one after the other, as the iterator protocol expects. */
  private turn: Promise<unknown> = Promise.resolve();

  /** @internal Use the client's `stream*` methods without a handler. */
  constructor(create: (handler: BatchHandler) => EventStream) {
    this.stream = create((batch) => this.offer(batch));
    this.registration = this.stream.open();
    // The failure reaches the caller through ready() and next(); it must not become an unhandled rejection.
    this.registration.catch(() => undefined);
    void this.stream.closed.then((closed) => {
      this.streamClosed = closed;
      this.wake();
    });
  }

  /** Resolves once the server registered the stream; rejects with what it refused (as `streamTo` with a handler). */
  ready(): Promise<void> {
    return this.registration;
  }

  /** The last sequence number the loop finished (or the stream read past), `null` before the first. */
  get position(): bigint | null {
    return this.stream.position;
  }

  /** Why the stream stopped, if it failed; `undefined` otherwise. */
  get failure(): unknown {
    return this.stream.failure;
  }

  /** The durable name, or `undefined` for a live stream. */
  get durableName(): string | undefined {
    return this.stream.durableName;
  }

  /** Resolves (never rejects) once the stream stopped for good. */
  get closed(): Promise<StreamClosed> {
    return this.stream.closed;
  }

  /**
   * Resolve `true` once the loop finished every batch up to `sequenceNumber` (it asked for the batch after
   * it); `false` after `timeoutMs`; reject with the stream's failure if it stopped before.
   */
  waitUntil(sequenceNumber: bigint | number, options: { timeoutMs?: number } = {}): Promise<boolean> {
    return this.stream.waitUntil(sequenceNumber, options);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The next committed batch; asking for it means the loop finished the previous one. */
  next(): Promise<IteratorResult<readonly EventRecord<T>[], undefined>> {
    return this.inTurn(() => this.nextBatch());
  }

  /**
   * Leave the loop (`break`, `return`, an exception): unsubscribe; the batch in progress counts as not
   * handled. It does not wait for a `next()` still waiting for a batch: that one resolves as done.
   */
  async return(): Promise<IteratorReturnResult<undefined>> {
    await this.stop(false);
    return DONE;
  }

  /**
   * Stop the stream; the batch the loop took last counts as handled (a durable stream stores it), and the loop
   * ends at its next `next()`. Safe to await inside the loop body. Idempotent.
   */
  unsubscribe(): Promise<void> {
    return this.stop(true);
  }

  private async nextBatch(): Promise<IteratorResult<readonly EventRecord<T>[], undefined>> {
    if (this.taken) this.settle(true);
    if (this.stopped) return DONE;
    try {
      await this.registration;
    } catch (error) {
      this.stopped = true;
      throw error;
    }
    for (;;) {
      if (this.stopped) return DONE;
      const delivery = this.delivery;
      if (delivery !== undefined) {
        this.taken = true;
        // The records were read as JSON values; `T` is the caller's declaration of what they hold.
        return { done: false, value: delivery.batch as readonly EventRecord<T>[] };
      }
      const closed = this.streamClosed;
      if (closed !== undefined) {
        this.stopped = true;
        if (closed.reason === "failed") throw closed.failure;
        return DONE;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = () => undefined;
    }
  }

  /** The stream's handler: park the batch until the loop finished it. */
  private offer(batch: readonly EventRecord[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.delivery = { batch, finish: resolve, abandon: () => reject(new StopDelivery("the loop left")) };
      this.taken = false;
      this.wake();
    });
  }

  private settle(finished: boolean): void {
    const delivery = this.delivery;
    this.delivery = undefined;
    const taken = this.taken;
    this.taken = false;
    if (delivery === undefined) return;
    // A batch the loop never saw is never finished: it was not handled.
    if (finished && taken) delivery.finish();
    else delivery.abandon();
  }

  private async stop(finished: boolean): Promise<void> {
    this.stopped = true;
    this.wake();
    // Unsubscribing a stream whose registration is still on its way would leave that connection open.
    await this.registration.catch(() => undefined);
    // Synchronously, unsubscribe() marks the stream as closing: whatever the loop's batch does next, the
    // stream hands over nothing more. Then it waits for that batch, which settle() releases.
    const unsubscribed = this.stream.unsubscribe();
    this.settle(finished);
    await unsubscribed;
  }

  private inTurn<R>(step: () => Promise<R>): Promise<R> {
    const result = this.turn.then(step);
    this.turn = result.catch(() => undefined);
    return result;
  }
}
