/**
 * One stream (live or durable) over server-sent events, with reconnection.
 *
 * Delivery is strictly sequential: a message is read, its batch handed to the handler, and the next message
 * is read only after the handler's promise settled. That gives "the next batch waits for the handler" and
 * lets TCP carry the backpressure to the server, which holds back only this stream's worker there.
 *
 * Resuming without gap or duplicate: `received` is the highest number this stream knows it has seen in full
 * (a delivered batch's last number, or a `progress` position). A live stream reconnects with
 * `Last-Event-ID: <received>`, so the server replays exactly what came after. A durable stream registers
 * its name again and the server resumes after the stored cursor, which is the last batch we acknowledged;
 * if an acknowledgement was lost with the connection, the server sends that batch again, and it is
 * acknowledged without calling the handler twice.
 *
 * Behind a load balancer any server may take a request: a durable stream's acknowledgements and its closing
 * name the durable stream and carry a token (the `id` of the message that delivered the batch), which any
 * server sharing the database checks; no request depends on reaching the server that holds the stream.
 * Closing drops the connection first (that ends the stream wherever it is served), then asks any server to
 * confirm that the name was released.
 */

import {
  BackendError,
  DurableStreamActive,
  FactstrError,
  RequestTimeout,
  StreamEnded,
  TooManyStreams,
} from "./errors.js";
import { type ServerSentEvent, readServerSentEvents } from "./sse.js";
import type { Deadline, Transport } from "./transport.js";
import type { EventRecord, JsonValue } from "./types.js";
import {
  parseAnswer,
  readProgress,
  readRecords,
  readStreamReady,
  type StreamReady,
} from "./wire.js";

/** Called once per committed batch with that batch's matching records; the next batch waits for it. */
export type BatchHandler<T = JsonValue> = (batch: readonly EventRecord<T>[]) => void | Promise<void>;

/**
 * @internal What a handler throws to stop its stream without the batch counting as handled (a consumer that
 * left an async iteration in the middle of a batch): no acknowledgement, no report.
 */
export class StopDelivery extends Error {}

/** Options of every stream. */
export interface StreamOptions {
  /** Aborting it unsubscribes the stream (and cancels registration if it is still in progress). */
  readonly signal?: AbortSignal;
  /** How long registration may take (the client's `timeoutMs` by default); an open stream has no timeout. */
  readonly timeoutMs?: number;
  /** Called with every failure: a handler's error, or the reason the stream stopped. */
  readonly onError?: (error: unknown) => void;
  /** Reconnection backoff: first delay and cap, in milliseconds (100 and 5000 by default). */
  readonly reconnectDelayMs?: { readonly initial?: number; readonly max?: number };
}

/** How a stream ended: what `closed` resolves to. It never rejects, so nobody has to catch it. */
export interface StreamClosed {
  /** `unsubscribed`: by `unsubscribe()` or the signal; `failed`: see `failure`; `ended`: the server closed it. */
  readonly reason: "unsubscribed" | "failed" | "ended";
  readonly failure: unknown;
}

export interface StreamTarget {
  readonly kind: "live" | "durable";
  readonly path: string;
  /** Query-string parameters of the first registration. */
  readonly params: Readonly<Record<string, string>>;
  /** Query-string parameters of a registration after a lost connection. */
  readonly resumeParams: (position: bigint) => Readonly<Record<string, string>>;
  /** The durable name, for a durable stream. */
  readonly name?: string;
}

interface Connection {
  readonly ready: StreamReady;
  readonly events: AsyncGenerator<ServerSentEvent, void>;
  /** Aborting it drops the connection. */
  readonly deadline: Deadline;
  readonly watchdog: NodeJS.Timeout;
}

interface Acknowledgement {
  /** The id of the message that delivered the batch (or a newer one): proof that it was delivered. */
  readonly token: string;
  readonly sequenceNumber: bigint;
}

type Waiter = { readonly target: bigint; readonly settle: (reached: boolean | Error) => void };

class Disconnected extends Error {}

/** A running stream; returned by the client's `stream*` methods once the server registered it. */
export class EventStream {
  /** Resolves once the stream stopped for good; after that the handler is never called again. */
  readonly closed: Promise<StreamClosed>;
  private resolveClosed: (closed: StreamClosed) => void = () => undefined;
  private handled: bigint | null = null;
  private received = 0n;
  private lastFailure: unknown = undefined;
  private state: "open" | "closing" | "closed" = "open";
  private connection: Connection | undefined;
  private running: Promise<void> = Promise.resolve();
  private inHandler: Promise<void> = Promise.resolve();
  private waiters: Waiter[] = [];
  /** The next acknowledgement to send, and the sender while it runs. */
  private pendingAcknowledgement: Acknowledgement | undefined;
  /** A durable stream's newest token: the id of the newest message of the current connection. */
  private newestToken: string | null = null;
  private acknowledging: Promise<void> | undefined;
  /** True while the handler runs: the connection is idle then on purpose, not dead. */
  private handling = false;
  /** Ends a reconnection backoff early (when the stream is closed). */
  private wakeUp: () => void = () => undefined;
  private readonly onAbort = (): void => void this.unsubscribe();
  private readonly initialDelay: number;
  private readonly maxDelay: number;

  /** @internal Use the client's `stream*` methods. */
  constructor(
    private readonly transport: Transport,
    private readonly target: StreamTarget,
    private readonly handler: BatchHandler,
    private readonly options: StreamOptions,
  ) {
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    this.initialDelay = options.reconnectDelayMs?.initial ?? 100;
    this.maxDelay = options.reconnectDelayMs?.max ?? 5000;
  }

  /** The last sequence number this stream handled (or read past), `null` before the first. */
  get position(): bigint | null {
    return this.handled;
  }

  /** The last failure: a handler's error, or why the stream stopped; `undefined` if none. */
  get failure(): unknown {
    return this.lastFailure;
  }

  /** The durable name, or `undefined` for a live stream. */
  get durableName(): string | undefined {
    return this.target.name;
  }

  /** @internal Register on the server; rejects with what the server refused. */
  async open(): Promise<void> {
    const ready = await this.connect(this.target.params, {}, this.options.timeoutMs);
    this.received = ready.position;
    this.handled = ready.position === 0n ? null : ready.position;
    this.options.signal?.addEventListener("abort", this.onAbort, { once: true });
    // run() handles its own failures; this catch only keeps a bug from becoming an unhandled rejection.
    this.running = this.run().catch((error: unknown) => this.fail(error));
  }

  /**
   * Resolve `true` once the stream handled everything up to `sequenceNumber` (read your own writes);
   * `false` after `timeoutMs`; reject with the stream's failure if it stopped before.
   */
  waitUntil(sequenceNumber: bigint | number, options: { timeoutMs?: number } = {}): Promise<boolean> {
    const target = BigInt(sequenceNumber);
    if ((this.handled ?? 0n) >= target) return Promise.resolve(true);
    if (this.state === "closed") return Promise.reject(this.stoppedError());
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        target,
        settle: (reached) => {
          if (timer !== undefined) clearTimeout(timer);
          this.waiters = this.waiters.filter((other) => other !== waiter);
          if (reached instanceof Error) reject(reached);
          else resolve(reached);
        },
      };
      if (options.timeoutMs !== undefined) timer = setTimeout(() => waiter.settle(false), options.timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /**
   * Stop the stream: waits for a handler call in progress (and its acknowledgement), then closes the stream
   * on the server, which stores the cursor of every acknowledged batch and releases a durable name before
   * this resolves, so registering the name again delivers no handled batch twice. Idempotent. Do not await it inside
   * this stream's own handler (that handler call is what it waits for); call it without `await` there.
   */
  async unsubscribe(): Promise<void> {
    if (this.state === "open") {
      this.state = "closing";
      this.wakeUp();
      await this.inHandler;
      await this.acknowledgementsSent();
      await this.closeOnServer();
      this.connection?.deadline.abort(new Disconnected("unsubscribed"));
      await this.running;
      this.finish({ reason: "unsubscribed", failure: this.lastFailure });
    }
    await this.closed;
  }

  // --- connecting -------------------------------------------------------------------------------------------

  private async connect(
    params: Readonly<Record<string, string>>,
    headers: Readonly<Record<string, string>>,
    timeoutMs: number | undefined,
  ): Promise<StreamReady> {
    const signal = this.options.signal;
    const deadline = this.transport.deadline({
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(signal === undefined ? {} : { signal }),
    });
    let watchdog: NodeJS.Timeout | undefined;
    const alive = (): void => {
      watchdog?.refresh();
    };
    try {
      const body = await this.transport.openEventStream(this.target.path, params, headers, deadline);
      const events = readServerSentEvents(body, alive);
      const first = await events.next().catch((error: unknown) => {
        throw deadline.failure(error, `GET ${this.target.path}`, false);
      });
      if (first.done === true || first.value.event !== "ready") {
        throw new BackendError(`the server closed the stream on ${this.target.path} before it was ready`);
      }
      const ready = readStreamReady(parseAnswer(first.value.data, "ready message"));
      // Registered: from now on the caller's signal means "unsubscribe" (which lets a handler call in
      // progress finish and be acknowledged), not "drop the connection", and the timeout no longer applies.
      deadline.done();
      // Heartbeats come every heartbeat_seconds while idle: three missed ones mean the server is gone.
      const silenceMs = Math.max(3 * ready.heartbeat_seconds * 1000, 1000);
      const timer: NodeJS.Timeout = setTimeout(() => {
        // We stop reading while the handler runs, so silence then is ours, not the server's.
        if (this.handling) timer.refresh();
        else deadline.abort(new Disconnected("missed heartbeats"));
      }, silenceMs);
      watchdog = timer;
      watchdog.unref();
      this.connection = { ready, events, deadline, watchdog };
      this.newestToken = ready.stream_token;
      return ready;
    } catch (error) {
      if (watchdog !== undefined) clearTimeout(watchdog);
      deadline.abort(new Disconnected("registration failed"));
      deadline.done();
      throw error;
    }
  }

  private async reconnect(): Promise<boolean> {
    let delay = this.initialDelay;
    for (;;) {
      await this.sleep(delay);
      if (this.state !== "open") return false;
      const resumeAfter = this.target.kind === "live" ? this.received : (this.handled ?? 0n);
      try {
        const headers = this.target.kind === "live" ? { "last-event-id": resumeAfter.toString() } : {};
        await this.connect(this.target.resumeParams(resumeAfter), headers, undefined);
        if (this.state !== "open") {
          // unsubscribe() ran while we were connecting and closed the previous connection: close this one.
          await this.closeOnServer();
          return false;
        }
        return true;
      } catch (error) {
        if (this.state !== "open") return false;
        if (!isTransient(error)) {
          this.fail(new StreamEnded(`the server refused to resume the stream: ${describe(error)}`, { cause: error }));
          return false;
        }
        // The server may be restarting, or may not have noticed yet that our old connection (and hold) died.
        delay = Math.min(delay * 2, this.maxDelay);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      // Closing must not wait out a long backoff.
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  // --- reading ----------------------------------------------------------------------------------------------

  private async run(): Promise<void> {
    for (;;) {
      const ending = await this.pump();
      if (this.connection !== undefined) clearTimeout(this.connection.watchdog);
      if (this.state !== "open") return;
      if (ending === "failed") return;
      if (ending === "unsubscribed") {
        // Someone else closed our stream id on the server: there is nothing to resume.
        this.finish({ reason: "ended", failure: this.lastFailure });
        return;
      }
      if (!(await this.reconnect())) return;
    }
  }

  /** Deliver messages until the connection ends; say how it ended. */
  private async pump(): Promise<"lost" | "unsubscribed" | "failed"> {
    const connection = this.connection;
    if (connection === undefined) return "lost";
    try {
      for await (const message of connection.events) {
        if (this.state !== "open") {
          // unsubscribe() is closing the stream (after its last acknowledgement was answered): hand nothing
          // more to the handler; the connection ends as soon as closeOnServer() drops it.
          if (message.event === "end") return "unsubscribed";
          continue;
        }
        if (this.target.kind === "durable" && message.id !== undefined && message.event !== "end") {
          this.newestToken = message.id;
        }
        if (message.event === "message") {
          const batch = readRecords(parseAnswer(message.data, "batch"), "batch");
          if (batch.length === 0) continue;
          if (!(await this.deliver(batch, message.id ?? connection.ready.stream_token))) {
            // unsubscribe() stopped the handler: keep the connection (leaving this loop would cancel it)
            // until unsubscribe() closes it, after the last acknowledgement was answered; otherwise the
            // server could see the stream end before that acknowledgement and deliver the batch again.
            if (this.isClosing()) continue;
            return "failed";
          }
        } else if (message.event === "progress") {
          this.advance(readProgress(parseAnswer(message.data, "progress message")));
        } else if (message.event === "end") {
          const reason: unknown = Reflect.get(Object(parseAnswer(message.data, "end message")), "reason");
          return reason === "unsubscribed" ? "unsubscribed" : "lost";
        }
      }
    } catch (error) {
      if (this.state === "open" && error instanceof FactstrError) {
        // A message this client cannot read will not get better by reconnecting; a network failure
        // (a plain Error from the body reader, or our own Disconnected) will.
        this.fail(error);
        return "failed";
      }
    }
    return "lost";
  }

  /** Hand one batch to the handler (unless it was handled before a reconnect); false when the stream stops. */
  private async deliver(batch: readonly EventRecord[], token: string | null): Promise<boolean> {
    const last = batch[batch.length - 1]!.sequence_number;
    const durable = this.target.kind === "durable";
    if (last <= (this.handled ?? 0n)) {
      if (durable) this.acknowledge(token, last);
      return true;
    }
    let done: () => void = () => undefined;
    this.inHandler = new Promise((resolve) => {
      done = resolve;
    });
    this.handling = true;
    try {
      await this.handler(batch);
    } catch (error) {
      const stopped = error instanceof StopDelivery;
      if (!stopped) this.report(error);
      if (durable || stopped) {
        // C6.1: the stream stops, the batch stays unacknowledged, and the name is released for a retry.
        // StopDelivery: the consumer left without finishing the batch; it stops the same way, but quietly.
        if (this.state === "open") {
          this.state = "closing";
          await this.acknowledgementsSent();
          await this.closeOnServer();
          const ending = stopped ? "unsubscribed" : "failed";
          this.finish({ reason: ending, failure: stopped ? this.lastFailure : error });
        }
        this.handling = false;
        done();
        return false;
      }
    }
    this.handling = false;
    if (durable) this.acknowledge(token, last);
    this.advance(last);
    done();
    return true;
  }

  /**
   * Acknowledge every batch up to `sequenceNumber`, without making the next batch wait for the round trip.
   * One acknowledgement is in flight at a time; while it is, newer ones collapse into the latest (an
   * acknowledgement covers everything before it), so a fast replay sends few of them.
   */
  private acknowledge(token: string | null, sequenceNumber: bigint): void {
    if (token === null) return; // a server without tokens: it cannot have sent a durable batch
    this.pendingAcknowledgement = { token, sequenceNumber };
    this.acknowledging ??= this.sendAcknowledgements();
  }

  private async sendAcknowledgements(): Promise<void> {
    for (let next = this.pendingAcknowledgement; next !== undefined; next = this.pendingAcknowledgement) {
      this.pendingAcknowledgement = undefined;
      try {
        await this.transport.request({
          method: "POST",
          path: `${this.target.path}/ack`,
          body: { sequence_number: next.sequenceNumber, stream_token: next.token },
        });
      } catch {
        // The connection is going away too: the server sends this batch again after reconnecting, and
        // deliver() acknowledges it then without calling the handler twice.
      }
    }
    this.acknowledging = undefined;
  }

  /** Resolve once every acknowledgement queued so far was answered (or failed). */
  private async acknowledgementsSent(): Promise<void> {
    while (this.acknowledging !== undefined) await this.acknowledging;
  }


  /** Whether unsubscribe() is under way (a method: the state changes across awaits). */
  private isClosing(): boolean {
    return this.state === "closing";
  }

  private advance(position: bigint): void {
    if (position > this.received) this.received = position;
    if (this.handled === null || position > this.handled) this.handled = position;
    for (const waiter of [...this.waiters]) {
      if (position >= waiter.target) waiter.settle(true);
    }
  }

  // --- stopping ---------------------------------------------------------------------------------------------

  private async closeOnServer(): Promise<void> {
    const connection = this.connection;
    if (connection === undefined) return;
    // Dropping the connection ends the stream on whichever server serves it; every acknowledgement was
    // answered before, so the cursor of each acknowledged batch is stored when the name is released.
    connection.deadline.abort(new Disconnected("closed"));
    const token = this.newestToken ?? connection.ready.stream_token;
    // Then wait until the server stopped the stream. A durable stream: any server answers once the name was
    // released, so registering it again delivers no handled batch. A live stream: its own server answers
    // once it stopped (a 404 from another server, or after it already ended, is as good).
    const path =
      this.target.kind === "durable" && token !== null
        ? `${this.target.path}?stream_token=${encodeURIComponent(token)}`
        : `/streams/${encodeURIComponent(connection.ready.stream_id)}`;
    try {
      await this.transport.request({ method: "DELETE", path });
    } catch {
      // The server is gone or another one answered: the stream ends when its server notices the closed connection.
    }
  }

  private report(error: unknown): void {
    this.lastFailure = error;
    if (this.options.onError !== undefined) {
      try {
        this.options.onError(error);
      } catch {
        // A failing error callback must not take the stream down with it.
      }
    } else {
      console.warn(`factstr stream on ${this.target.path}:`, error);
    }
  }

  private fail(error: unknown): void {
    this.report(error);
    this.finish({ reason: "failed", failure: error });
  }

  private finish(closed: StreamClosed): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.wakeUp();
    this.options.signal?.removeEventListener("abort", this.onAbort);
    if (this.connection !== undefined) {
      this.connection.deadline.abort(new Disconnected("closed"));
      clearTimeout(this.connection.watchdog);
    }
    const error = this.stoppedError();
    for (const waiter of [...this.waiters]) waiter.settle(error);
    this.resolveClosed(closed);
  }

  private stoppedError(): Error {
    if (this.lastFailure instanceof Error) return this.lastFailure;
    return new StreamEnded("the stream stopped");
  }
}

/** Errors worth another try: the server or the network may come back, or a stale hold may expire. */
function isTransient(error: unknown): boolean {
  return (
    error instanceof BackendError ||
    error instanceof RequestTimeout ||
    error instanceof DurableStreamActive ||
    error instanceof TooManyStreams
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
