"""AsyncEventStore: every operation of a store, awaitable, without blocking the event loop."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from types import TracebackType
from typing import ParamSpec, TypeVar

from .._errors import InvalidInput
from .._model import (
    AppendResult,
    DurableStream,
    DurableStreamInfo,
    EventQuery,
    NewEvent,
    QueryResult,
    Start,
)
from .._store import EventStore
from .._streams import EventStream, Handler
from ._stream import AsyncEventStream, Subscribe

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_MAX_PENDING = 16


class AsyncEventStore:
    """An asyncio face for any :class:`~factstr.EventStore`: same contract, same errors, awaitable.

    Each call runs the store's own method in a worker thread (``asyncio.to_thread``, or ``executor`` when
    given), so the event loop never waits on the database; the guarantees are the store's. Streams are async
    iterators of committed batches (:class:`AsyncEventStream`). ``async with`` (or :meth:`close`) closes the
    wrapped store.
    """

    __module__ = "factstr.aio"

    def __init__(self, store: EventStore, *, executor: Executor | None = None) -> None:
        if not isinstance(store, EventStore):
            raise InvalidInput(f"store must be a factstr.EventStore, got {type(store).__name__}")
        self._store = store
        self._executor = executor

    def __repr__(self) -> str:
        return f"<factstr.aio.AsyncEventStore {self._store!r}>"

    @property
    def store(self) -> EventStore:
        """The wrapped synchronous store."""
        return self._store

    async def _run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._executor is None:
            return await asyncio.to_thread(function, *args, **kwargs)
        call = functools.partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    # --- writing and reading -----------------------------------------------------------------------------

    async def append(self, events: Sequence[NewEvent], *, idempotency_key: str | None = None) -> AppendResult:
        """Await :meth:`factstr.EventStore.append`."""
        return await self._run(self._store.append, events, idempotency_key=idempotency_key)

    async def append_if(
        self,
        events: Sequence[NewEvent],
        context_query: EventQuery,
        expected_context_version: int | None,
        *,
        idempotency_key: str | None = None,
    ) -> AppendResult:
        """Await :meth:`factstr.EventStore.append_if`; raises ConditionalAppendConflict like it."""
        return await self._run(
            self._store.append_if, events, context_query, expected_context_version, idempotency_key=idempotency_key
        )

    async def query(self, query: EventQuery) -> QueryResult:
        """Await :meth:`factstr.EventStore.query`."""
        return await self._run(self._store.query, query)

    async def head(self) -> int | None:
        """Await :meth:`factstr.EventStore.head`."""
        return await self._run(self._store.head)

    # --- durable cursors ---------------------------------------------------------------------------------

    async def durable_streams(self) -> list[DurableStreamInfo]:
        """Await :meth:`factstr.EventStore.durable_streams`."""
        return await self._run(self._store.durable_streams)

    async def durable_stream(self, durable: DurableStream | str) -> DurableStreamInfo | None:
        """Await :meth:`factstr.EventStore.durable_stream`."""
        return await self._run(self._store.durable_stream, durable)

    async def reset_durable_stream(self, durable: DurableStream | str, position: int) -> None:
        """Await :meth:`factstr.EventStore.reset_durable_stream`."""
        await self._run(self._store.reset_durable_stream, durable, position)

    async def delete_durable_stream(self, durable: DurableStream | str) -> None:
        """Await :meth:`factstr.EventStore.delete_durable_stream`."""
        await self._run(self._store.delete_durable_stream, durable)

    # --- streams -----------------------------------------------------------------------------------------

    def stream_all(self, *, start: Start = "end", max_pending: int = DEFAULT_MAX_PENDING) -> AsyncEventStream:
        """Every batch committed after registration (or after ``start``); see :meth:`stream_to`."""
        return self.stream_to(EventQuery(), start=start, max_pending=max_pending)

    def stream_to(
        self, query: EventQuery, *, start: Start = "end", max_pending: int = DEFAULT_MAX_PENDING
    ) -> AsyncEventStream:
        """The matching events of every batch committed after registration, as an async iterator.

        ``start`` is as for :meth:`factstr.EventStore.stream_to`: "end" (default), "beginning" or after a
        sequence number. At most ``max_pending`` batches wait for the consumer; then the stream's worker thread
        waits (and only it). Register with ``async with`` so that nothing committed before the first batch is
        missed.
        """
        if type(max_pending) is not int or max_pending < 1:
            raise InvalidInput(f"max_pending must be a positive int, got {max_pending!r}")

        def subscribe(handler: Handler) -> EventStream:
            return self._store.stream_to(query, handler, start=start)

        return AsyncEventStream(self._subscriber(subscribe), durable=False, max_pending=max_pending)

    def stream_all_durable(
        self, durable: DurableStream | str, *, start: Start = "beginning", reset: bool = False
    ) -> AsyncEventStream:
        """Like :meth:`stream_to_durable` for every event."""
        return self.stream_to_durable(durable, EventQuery(), start=start, reset=reset)

    def stream_to_durable(
        self,
        durable: DurableStream | str,
        query: EventQuery,
        *,
        start: Start = "beginning",
        reset: bool = False,
    ) -> AsyncEventStream:
        """Replay the matching batches after the stored cursor, then go on live, as an async iterator.

        The cursor passes a batch only once the consumer finished it (see :class:`AsyncEventStream`).
        Registration raises what :meth:`factstr.EventStore.stream_to_durable` raises.
        """

        def subscribe(handler: Handler) -> EventStream:
            return self._store.stream_to_durable(durable, query, handler, start=start, reset=reset)

        return AsyncEventStream(self._subscriber(subscribe), durable=True, max_pending=1)

    def _subscriber(self, subscribe: Callable[[Handler], EventStream]) -> Subscribe:
        async def run(handler: Handler) -> EventStream:
            return await self._run(subscribe, handler)

        return run

    # --- lifecycle ---------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the wrapped store (its streams stop; iterators on them end). Idempotent."""
        await self._run(self._store.close)

    async def __aenter__(self) -> AsyncEventStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
