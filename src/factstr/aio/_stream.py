"""Committed batches of a stream as an async iterator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType

from .._errors import AbandonedBatch
from .._model import EventRecord
from .._streams import EventStream, Handler
from ._bridge import Bridge

# How often a consumer waiting for a batch looks whether its stream stopped (store closed, failure).
_RECHECK_SECONDS = 0.1

Subscribe = Callable[[Handler], Awaitable[EventStream]]


class AsyncEventStream:
    """An async iterator of committed batches, one ``list[EventRecord]`` per batch, in commit order.

    Use it as ``async with astore.stream_to(query) as batches: async for batch in batches: ...``: entering
    registers the stream (a live stream sees what commits from then on), leaving unsubscribes. Iterating
    without ``async with`` registers on the first batch; call :meth:`aclose` then.

    A durable stream's cursor passes a batch once the consumer has finished it: when it asks for the next
    batch, or leaves the ``async with`` block (or calls ``aclose()``) without an exception. A batch whose
    processing raised is delivered again at the next registration (at-least-once). Iteration ends when the
    stream stops (e.g. the store was closed) and raises the failure that stopped it, if any.
    """

    __module__ = "factstr.aio"

    def __init__(self, subscribe: Subscribe, *, durable: bool, max_pending: int) -> None:
        self._subscribe = subscribe
        self._durable = durable
        self._max_pending = max_pending
        self._bridge: Bridge | None = None
        self._received = 0
        self._closed = False

    def __repr__(self) -> str:
        kind = "durable" if self._durable else "live"
        return f"<factstr.aio.AsyncEventStream {kind} received={self._received}>"

    @property
    def stream(self) -> EventStream | None:
        """The underlying stream once registered (its ``id``, ``position``, ``failure``)."""
        return None if self._bridge is None else self._bridge.stream

    async def open(self) -> AsyncEventStream:
        """Register the stream now (idempotent); raises what the store's registration raises."""
        if self._bridge is None:
            bridge = Bridge(asyncio.get_running_loop(), durable=self._durable, max_pending=self._max_pending)
            self._bridge = bridge
            try:
                bridge.stream = await self._subscribe(bridge.handler())
            except BaseException:
                bridge.close(0)
                self._closed = True
                raise
        return self

    async def aclose(self, *, finished: bool = True) -> None:
        """Unsubscribe; with ``finished=False`` the last batch taken counts as not handled. Idempotent."""
        if self._closed:
            return
        self._closed = True
        bridge = self._bridge
        if bridge is None:
            return
        bridge.close(self._received if finished else self._received - 1)
        if bridge.stream is not None:
            await asyncio.to_thread(bridge.stream.unsubscribe)

    def __aiter__(self) -> AsyncEventStream:
        return self

    async def __anext__(self) -> list[EventRecord]:
        if self._closed:
            raise StopAsyncIteration
        bridge = (await self.open())._bridge
        assert bridge is not None and bridge.stream is not None
        # Asking for the next batch means the consumer finished the ones it has.
        bridge.finished(self._received)
        while True:
            batch = await bridge.next_batch(_RECHECK_SECONDS)
            if batch is None:
                if bridge.stream.running or bridge.handoff.items:
                    continue
                failure = bridge.stream.failure
                if failure is not None and not isinstance(failure, AbandonedBatch):
                    raise failure from None
                raise StopAsyncIteration from None
            self._received += 1
            return batch

    async def __aenter__(self) -> AsyncEventStream:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose(finished=exc_type is None)
