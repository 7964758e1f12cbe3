"""The bridge from a stream's worker thread to an asyncio consumer, one committed batch at a time.

The stream runtime calls the handler on its own worker thread; the handler hands the batch to the event loop
through the one thread -> loop hand-off (``factstr._handoff``, the same the HTTP server's event streams use)
and blocks that worker thread, never the loop and never another stream:

- a live stream blocks while ``max_pending`` batches wait for the consumer (backpressure);
- a durable stream blocks until the consumer has finished the batch (it asks for the next one, or leaves the
  ``async with`` block without an exception), so its cursor never passes a batch the consumer did not finish.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .._errors import AbandonedBatch
from .._handoff import Handoff
from .._model import EventRecord
from .._streams import EventStream, Handler

# How often a blocked worker looks whether its stream was stopped meanwhile (by unsubscribe or store.close).
_RECHECK_SECONDS = 0.05


class Bridge:
    """The shared state of one async stream: the queue on the loop side, the counters on the thread side."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, durable: bool, max_pending: int) -> None:
        self.durable = durable
        self.handoff: Handoff[list[EventRecord]] = Handoff(loop)
        self.stream: EventStream | None = None
        self._max_pending = max_pending
        self._condition = self.handoff.condition
        self._handed_over = 0
        self._taken = 0
        self._finished = 0
        self._closing = False

    # --- the worker thread's side ------------------------------------------------------------------------

    def handler(self) -> Handler:
        """The handler to subscribe with."""
        return self._hand_over_durable if self.durable else self._hand_over_live

    def _hand_over_live(self, batch: list[EventRecord]) -> None:
        # A live stream keeps no cursor: once the consumer is gone, batches are simply not handed over.
        if self._wait(lambda: self._handed_over - self._taken < self._max_pending):
            with self._condition:
                self._handed_over += 1
            self._put(batch)

    def _hand_over_durable(self, batch: list[EventRecord]) -> None:
        with self._condition:
            self._handed_over += 1
            number = self._handed_over
        if not self._put(batch) or not self._wait(lambda: self._finished >= number):
            raise AbandonedBatch("the async consumer did not finish this batch; it will be delivered again")
        # The consumer closed after finishing this batch: return only once the stream is stopping, so the
        # runtime stores this batch's cursor and hands over nothing more.
        while self._closing and self._stream_running():
            time.sleep(_RECHECK_SECONDS / 5)

    def _wait(self, ready: Callable[[], bool]) -> bool:
        """Block until ``ready()``; return ``False`` if the consumer closed or the stream stopped first."""
        with self._condition:
            while not ready():
                if self._closing or not self._stream_running():
                    return ready()
                self._condition.wait(_RECHECK_SECONDS)
            return True

    def _put(self, batch: list[EventRecord]) -> bool:
        return self.handoff.put(batch)  # False: the event loop is closed, nobody will ever take it

    def _stream_running(self) -> bool:
        # The first batch can arrive before the subscription has returned the stream object.
        return self.stream is None or self.stream.running

    # --- the event loop's side ---------------------------------------------------------------------------

    async def next_batch(self, timeout: float) -> list[EventRecord] | None:
        """The next batch, waiting up to ``timeout`` seconds; None if none came (look at the stream then)."""
        batch = await self.handoff.get(timeout)
        if batch is not None:
            with self._condition:
                self._taken += 1
                self._condition.notify_all()
        return batch

    def finished(self, count: int) -> None:
        """The consumer has finished its first ``count`` batches (durable streams wait for this)."""
        with self._condition:
            self._finished = max(self._finished, count)
            self._condition.notify_all()

    def close(self, finished: int) -> None:
        """The consumer is gone after finishing ``finished`` batches; blocked handlers return or give back.

        Both change under one lock, so a durable handler never sees its batch finished without also seeing
        the close (which would let the runtime hand over one more batch that nobody takes).
        """
        with self._condition:
            self._finished = max(self._finished, finished)
            self._closing = True
            self._condition.notify_all()
