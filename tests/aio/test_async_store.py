"""The asyncio facade: awaitable operations that never block the loop, streams as async iterators."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from factstr import (
    ConditionalAppendConflict,
    EventFilter,
    EventQuery,
    EventRecord,
    EventStore,
    MemoryStore,
    NewEvent,
)
from factstr.aio import AsyncEventStore
from factstr.testing import Backend, make_backend

WAIT = 10.0
NOTES = EventQuery(filters=[EventFilter(event_types=["Noted"])])


def note(n: int) -> NewEvent:
    return NewEvent("Noted", {"n": n})


def numbers(batch: list[EventRecord]) -> list[int]:
    return [record.payload["n"] for record in batch]


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    chosen = make_backend(request.param, tmp_path)
    try:
        yield chosen
    finally:
        chosen.cleanup()


def run(test: Callable[[AsyncEventStore], Awaitable[None]], store: EventStore) -> None:
    async def main() -> None:
        async with AsyncEventStore(store) as astore:
            await asyncio.wait_for(test(astore), WAIT)

    asyncio.run(main())


def test_every_operation_is_awaitable_and_keeps_the_contract(backend: Backend) -> None:
    async def test(astore: AsyncEventStore) -> None:
        first = await astore.append([note(1), note(2)])
        assert (first.first_sequence_number, first.last_sequence_number) == (1, 2)
        result = await astore.query(NOTES)
        assert numbers(result.event_records) == [1, 2]
        await astore.append_if([note(3)], NOTES, result.current_context_version)
        with pytest.raises(ConditionalAppendConflict):
            await astore.append_if([note(4)], NOTES, result.current_context_version)
        assert await astore.head() == 3

    run(test, backend.open())


class SlowStore(MemoryStore):
    """A store whose queries take a while, like a database under load."""

    def query(self, query: EventQuery) -> object:  # type: ignore[override]
        time.sleep(0.3)
        return super().query(query)


def test_a_slow_call_does_not_block_the_event_loop() -> None:
    async def test(astore: AsyncEventStore) -> None:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        await astore.query(NOTES)
        ticker.cancel()
        assert ticks >= 10

    run(test, SlowStore())


def test_live_stream_yields_each_committed_batch_after_registration(backend: Backend) -> None:
    async def test(astore: AsyncEventStore) -> None:
        await astore.append([note(0)])
        async with astore.stream_to(NOTES) as batches:
            await astore.append([note(1), note(2)])
            await astore.append([NewEvent("Other", {})])
            await astore.append([note(3)])
            received = [numbers(await anext(batches)), numbers(await anext(batches))]
        assert received == [[1, 2], [3]]

    run(test, backend.open())


def test_live_stream_can_start_at_the_beginning_or_after_a_number(backend: Backend) -> None:
    async def test(astore: AsyncEventStore) -> None:
        await astore.append([note(1), note(2)])
        await astore.append([note(3)])
        async with astore.stream_to(NOTES, start="beginning") as batches:
            assert [numbers(await anext(batches)), numbers(await anext(batches))] == [[1, 2], [3]]
        async with astore.stream_to(NOTES, start=2) as batches:
            assert numbers(await anext(batches)) == [3]

    run(test, backend.open())


def test_live_stream_backpressure_holds_only_its_own_worker() -> None:
    store = MemoryStore()

    async def test(astore: AsyncEventStore) -> None:
        async with astore.stream_to(NOTES, max_pending=2) as slow, astore.stream_all() as fast:
            for n in range(1, 21):
                await astore.append([note(n)])  # appends never wait for a consumer
            seen_fast = [numbers(await anext(fast))[0] for _ in range(20)]
            assert seen_fast == list(range(1, 21))
            assert slow.stream is not None
            # Held back: 2 batches wait in the queue and the worker waits to hand over the 3rd.
            assert (slow.stream.position or 0) <= 2
            seen_slow = [numbers(await anext(slow))[0] for _ in range(20)]
            assert seen_slow == list(range(1, 21))

    run(test, store)


def test_leaving_the_block_unsubscribes() -> None:
    store = MemoryStore()

    async def test(astore: AsyncEventStore) -> None:
        async with astore.stream_all() as batches:
            stream = batches.stream
            assert stream is not None and stream.running
        assert not stream.running
        assert [batch async for batch in batches] == []

    run(test, store)


def test_iterating_without_a_block_registers_and_aclose_unsubscribes() -> None:
    store = MemoryStore()
    store.append([note(1)])

    async def test(astore: AsyncEventStore) -> None:
        batches = astore.stream_to_durable("reader", NOTES)
        async for batch in batches:
            assert numbers(batch) == [1]
            break
        await batches.aclose()
        info = await astore.durable_stream("reader")
        assert info is not None and (info.cursor, info.active) == (1, False)

    run(test, store)


def test_durable_cursor_passes_only_batches_the_consumer_finished(backend: Backend) -> None:
    async def test(astore: AsyncEventStore) -> None:
        for n in range(1, 5):
            await astore.append([note(n)])
        async with astore.stream_to_durable("reader", NOTES) as batches:
            assert numbers(await anext(batches)) == [1]
            assert numbers(await anext(batches)) == [2]
        info = await astore.durable_stream("reader")
        assert info is not None and info.cursor == 2
        async with astore.stream_to_durable("reader", NOTES) as batches:
            assert numbers(await anext(batches)) == [3]

    run(test, backend.open())


def test_durable_batch_whose_processing_raised_comes_again(backend: Backend) -> None:
    async def test(astore: AsyncEventStore) -> None:
        await astore.append([note(1)])
        await astore.append([note(2)])
        with pytest.raises(RuntimeError):
            async with astore.stream_to_durable("reader", NOTES) as batches:
                async for batch in batches:
                    if numbers(batch) == [2]:
                        raise RuntimeError("could not process 2")
        async with astore.stream_to_durable("reader", NOTES) as batches:
            assert numbers(await anext(batches)) == [2]

    run(test, backend.open())


def test_closing_the_store_ends_the_iteration() -> None:
    store = MemoryStore()

    async def test(astore: AsyncEventStore) -> None:
        async with astore.stream_all() as batches:
            await astore.append([note(1)])
            assert numbers(await anext(batches)) == [1]
            await astore.close()
            assert [batch async for batch in batches] == []

    run(test, store)


def test_a_stream_serves_a_consumer_on_another_thread_while_the_loop_stays_free() -> None:
    store = MemoryStore()
    appended = threading.Event()

    def writer() -> None:
        for n in range(1, 51):
            store.append([note(n)])
        appended.set()

    async def test(astore: AsyncEventStore) -> None:
        async with astore.stream_to(NOTES) as batches:
            thread = threading.Thread(target=writer)
            thread.start()
            got: list[int] = []
            async for batch in batches:
                got.extend(numbers(batch))
                if len(got) == 50:
                    break
            await asyncio.to_thread(thread.join)
        assert got == list(range(1, 51))
        assert appended.is_set()

    run(test, store)
