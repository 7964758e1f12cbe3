"""The one stream runtime (C6): a stream is a position plus a query, worked by its own thread.

The worker reads committed batches after its position from the store, calls the handler once per batch,
advances, and sleeps on the store's notifier when it has caught up. Replay and live delivery are the same
loop, so there is no hand-off between them to get wrong, and memory stays bounded: the log is the buffer.
Stores take part only through :class:`StreamSource` (read batches after a position, store a cursor).

A durable stream handles batches only while it holds its name. Most holds last as long as the process; a
hold that can be lost while the process lives (:class:`LosableHold`: PostgreSQL's, with its database session)
is confirmed before every read and every handler call, which costs no round trip while it is held. One that
was lost is taken back before anything else is handled, or the stream stops with DurableStreamLost.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, runtime_checkable

from ._errors import DurableStreamLost, EventStoreError, StoreClosed
from ._matching import Filters
from ._model import EventRecord
from ._notify import Notifier

logger = logging.getLogger("factstr")

Handler = Callable[[list[EventRecord]], object]
ErrorCallback = Callable[[BaseException], object]

# How long a caught-up worker sleeps before it looks at the log without being woken (the safety poll).
SAFETY_POLL_SECONDS = 1.0
# During a long replay, the durable cursor is written at most this often; always when idle and on stop.
CURSOR_FLUSH_SECONDS = 0.25
# Backoff after a backend failure while reading, doubled up to the maximum.
RETRY_FIRST_SECONDS = 0.05
RETRY_MAX_SECONDS = 2.0


class Hold(Protocol):
    """The exclusive hold on a durable name; released exactly once, idempotently."""

    def release(self) -> None: ...


@runtime_checkable
class LosableHold(Hold, Protocol):
    """A hold that can be lost while its process lives, e.g. with the database session that holds it."""

    def confirm(self, stored_cursor: int) -> None:
        """Return once the name is known to be held, taking it back first if it was lost.

        Cheap while held (no round trip). Taking it back succeeds only if no other holder has the name and
        its stored cursor is still ``stored_cursor`` (the last cursor this stream stored), which proves no
        other stream handled it meanwhile; otherwise raise DurableStreamLost. Raise BackendError when the
        database cannot be asked now: the stream tries again later and handles nothing until then.
        """
        ...


class StreamSource(Protocol):
    """What the runtime needs from a store."""

    notifier: Notifier

    def read_batches(self, after: int, filters: Filters) -> tuple[list[list[EventRecord]], int]:
        """Return whole committed batches of matching records after ``after`` and how far the log was read."""
        ...

    def store_cursor(self, name: str, cursor: int) -> None:
        """Move the stored cursor of a durable name forward to ``cursor``."""
        ...

    def stream_ended(self, stream: EventStream) -> None:
        """Forget a stream that has stopped."""
        ...


class EventStream:
    """A running subscription: one handler call per committed batch of matching facts.

    ``position`` is the last sequence number this stream has handled (or read past), ``None`` before any.
    ``unsubscribe()`` (idempotent) stops it; after it returns the handler is not called again and, for a
    durable stream, the cursor of every handled batch is stored. Use it as a context manager to unsubscribe
    on exit.
    """

    __module__ = "factstr"

    def __init__(
        self,
        source: StreamSource,
        filters: Filters,
        handler: Handler,
        *,
        position: int,
        durable_name: str | None = None,
        hold: Hold | None = None,
        on_error: ErrorCallback | None = None,
        poll_interval: float = SAFETY_POLL_SECONDS,
    ) -> None:
        self.id = durable_name if durable_name is not None else f"live-{uuid.uuid4().hex}"
        self._source = source
        self._filters = filters
        self._handler = handler
        self._durable_name = durable_name
        self._hold = hold
        self._losable = hold if isinstance(hold, LosableHold) else None
        self._lost = False
        self._on_error = on_error
        self._poll_interval = poll_interval
        self._position = position
        self._stored_position = position
        self._failure: BaseException | None = None
        self._stop_requested = False
        self._finished = False
        self._progress = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"factstr-{self.id}", daemon=True)

    def __repr__(self) -> str:
        kind = "durable" if self._durable_name is not None else "live"
        return f"<factstr.EventStream {kind} id={self.id!r} position={self.position!r}>"

    @property
    def position(self) -> int | None:
        """The last sequence number handled or read past; ``None`` before any."""
        return self._position or None

    @property
    def failure(self) -> BaseException | None:
        """The last exception raised by the handler (or DurableStreamLost), or ``None``."""
        return self._failure

    @property
    def durable_name(self) -> str | None:
        """The durable name of this stream, ``None`` for a live stream."""
        return self._durable_name

    @property
    def running(self) -> bool:
        """Whether the stream still delivers (not unsubscribed, not stopped by a durable failure)."""
        return not self._finished and not self._stop_requested

    def start(self) -> None:
        """Start the worker thread (called by the store)."""
        self._thread.start()

    def unsubscribe(self) -> None:
        """Stop the stream; waits for a handler call in progress unless called from the handler itself."""
        self._stop_requested = True
        self._source.notifier.notify()
        if threading.current_thread() is not self._thread and self._thread.is_alive():
            self._thread.join()

    def wait_until(self, sequence_number: int, timeout: float | None = None) -> bool:
        """Wait until every matching batch up to ``sequence_number`` was handled.

        Returns ``False`` on timeout or when the stream was unsubscribed first; raises the stream's failure
        if a durable stream stopped because its handler raised or it lost its hold (DurableStreamLost).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._progress:
            while self._position < sequence_number:
                if self._finished:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._progress.wait(remaining)
            if self._position >= sequence_number:
                return True
        if self._failure is not None and self._durable_name is not None:
            raise self._failure
        return False

    def __enter__(self) -> EventStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.unsubscribe()

    # --- the worker --------------------------------------------------------------------------------------

    def _run(self) -> None:
        retry_delay = RETRY_FIRST_SECONDS
        last_flush = time.monotonic()
        try:
            while not self._stop_requested:
                seen = self._source.notifier.version()
                try:
                    self._confirm_hold()
                    batches, horizon = self._source.read_batches(self._position, self._filters)
                    for batch in batches:
                        if self._stop_requested:
                            return
                        self._confirm_hold()
                        if not self._deliver(batch):
                            return
                        self._advance(batch[-1].sequence_number)
                        if time.monotonic() - last_flush >= CURSOR_FLUSH_SECONDS:
                            self._flush_cursor()
                            last_flush = time.monotonic()
                except StoreClosed:
                    return
                except DurableStreamLost as exc:
                    self._lost = True
                    self._report(exc, "durable stream %s lost its hold on its name; stopped")
                    return
                except EventStoreError as exc:
                    if self._stop_requested:
                        return
                    logger.warning("stream %s could not reach the store; retrying", self.id, exc_info=exc)
                    self._sleep(retry_delay)
                    retry_delay = min(retry_delay * 2, RETRY_MAX_SECONDS)
                    continue
                retry_delay = RETRY_FIRST_SECONDS
                if horizon > self._position:
                    self._advance(horizon)
                if not batches:
                    self._flush_cursor()
                    last_flush = time.monotonic()
                    self._source.notifier.wait(seen, self._poll_interval)
        except BaseException as exc:  # a bug or a dead backend: never die silently
            self._report(exc, "stream %s stopped by an unexpected error")
        finally:
            self._finish()

    def _deliver(self, batch: list[EventRecord]) -> bool:
        """Call the handler; return whether the stream goes on."""
        try:
            self._handler(batch)
        except Exception as exc:
            if self._durable_name is None:
                self._report(exc, "live stream %s handler raised; going on with the next batch")
                return True
            self._report(exc, "durable stream %s handler raised; stopped at the failed batch")
            return False
        return True

    def _confirm_hold(self) -> None:
        """Make sure this stream still holds its name before it reads or handles (see LosableHold)."""
        if self._losable is not None:
            self._losable.confirm(self._stored_position)

    def _advance(self, position: int) -> None:
        with self._progress:
            self._position = position
            self._progress.notify_all()

    def _flush_cursor(self) -> None:
        # A stream that lost its name stores nothing more: the name's cursor belongs to its next holder.
        if self._durable_name is None or self._lost or self._position <= self._stored_position:
            return
        position = self._position
        try:
            self._source.store_cursor(self._durable_name, position)
        except EventStoreError as exc:
            # The batches were handled; the cursor is written again at the next flush or on stop.
            logger.warning("durable stream %s could not store its cursor yet", self.id, exc_info=exc)
            return
        self._stored_position = position

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop_requested and time.monotonic() < deadline:
            self._source.notifier.wait(self._source.notifier.version(), deadline - time.monotonic())

    def _report(self, exc: BaseException, message: str) -> None:
        self._failure = exc
        logger.warning(message, self.id, exc_info=exc)
        if self._on_error is not None:
            try:
                self._on_error(exc)
            except Exception as callback_exc:
                logger.error("on_error callback of stream %s raised", self.id, exc_info=callback_exc)

    def _finish(self) -> None:
        try:
            self._flush_cursor()
        finally:
            if self._hold is not None:
                self._hold.release()
            with self._progress:
                self._finished = True
                self._progress.notify_all()
            self._source.stream_ended(self)
