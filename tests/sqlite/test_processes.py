"""Several processes on one file: gapless numbers, atomic append_if, cross-process streams and holds."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from factstr import DurableStreamActive, EventFilter, EventQuery, EventRecord, NewEvent
from factstr.sqlite import SQLiteStore

from .conftest import child, finish

_APPENDER = """
    import json, random, sys
    from factstr import NewEvent
    from factstr.sqlite import SQLiteStore
    path, name, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with SQLiteStore(path) as store:
        for index in range(batches):
            size = random.randint(1, 3)
            result = store.append([NewEvent("appended", {"by": name, "i": index, "j": j}) for j in range(size)])
            print(json.dumps([result.first_sequence_number, result.committed_count]), flush=True)
"""


def test_appends_from_several_processes_are_gapless_and_whole(database: str) -> None:
    SQLiteStore(database).close()
    children = [child(_APPENDER, database, f"p{n}", "40") for n in range(3)]
    ranges = [json.loads(line) for process in children for line in finish(process).splitlines()]
    numbers = sorted(n for first, count in ranges for n in range(first, first + count))
    with SQLiteStore(database) as store:
        assert numbers == list(range(1, len(numbers) + 1))
        assert store.head() == len(numbers)
        records = store.query(EventQuery()).event_records
    by_number = {record.sequence_number: record for record in records}
    for first, count in ranges:  # each batch is one run of numbers from one writer, with one commit time
        batch = [by_number[n] for n in range(first, first + count)]
        assert len({(r.payload["by"], r.payload["i"]) for r in batch}) == 1
        assert [r.payload["j"] for r in batch] == list(range(count))
        assert len({r.occurred_at for r in batch}) == 1


_BOOKER = """
    import sys
    from factstr import ConditionalAppendConflict, EventFilter, EventQuery, NewEvent
    from factstr.sqlite import SQLiteStore
    path, name, seats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    context = EventQuery(filters=[EventFilter(event_types=["booked"], payload_predicates=[{"show": "s1"}])])
    booked = conflicts = 0
    with SQLiteStore(path) as store:
        while True:
            result = store.query(context)
            if len(result.event_records) >= seats:
                break
            try:
                event = NewEvent("booked", {"show": "s1", "by": name})
                store.append_if([event], context, result.current_context_version)
                booked += 1
            except ConditionalAppendConflict:
                conflicts += 1
    print(booked, conflicts)
"""


def test_append_if_is_atomic_across_processes(database: str) -> None:
    seats = 60
    with SQLiteStore(database) as store:
        store.append([NewEvent("booked", {"show": "other"})])  # a different context, never counted
    children = [child(_BOOKER, database, f"p{n}", str(seats)) for n in range(3)]
    outcomes = [tuple(map(int, finish(process).split())) for process in children]
    assert sum(booked for booked, _ in outcomes) == seats  # never oversold, and every seat sold
    with SQLiteStore(database) as store:
        context = EventQuery(filters=[EventFilter(event_types=["booked"], payload_predicates=[{"show": "s1"}])])
        assert len(store.query(context).event_records) == seats
        assert store.head() == seats + 1  # conflicts consumed no number


def test_streams_receive_batches_committed_by_another_process(database: str) -> None:
    # A long safety poll: only the data_version watcher can deliver within the wait below.
    with SQLiteStore(database, poll_interval=30.0) as store:
        live: list[list[int]] = []
        durable: list[list[int]] = []
        store.append([NewEvent("before", {})])
        query = EventQuery(filters=[EventFilter(event_types=["appended"])])
        with (
            store.stream_to(query, lambda batch: live.append([r.sequence_number for r in batch])) as live_stream,
            store.stream_to_durable(
                "projection", query, lambda batch: durable.append([r.sequence_number for r in batch])
            ) as durable_stream,
        ):
            started = time.monotonic()
            ranges = [json.loads(line) for line in finish(child(_APPENDER, database, "other", "5")).splitlines()]
            head = ranges[-1][0] + ranges[-1][1] - 1
            assert live_stream.wait_until(head, timeout=10)
            assert durable_stream.wait_until(head, timeout=10)
            assert time.monotonic() - started < 10
        expected = [list(range(first, first + count)) for first, count in ranges]
        assert live == expected
        assert durable == expected
        info = store.durable_stream("projection")
        assert info is not None and info.cursor == head


def test_stream_latency_from_another_process_is_about_the_watch_interval(database: str) -> None:
    received: list[float] = []

    def handler(batch: list[EventRecord]) -> None:
        received.append(time.monotonic())

    with SQLiteStore(database, poll_interval=30.0) as store, store.stream_all(handler) as stream:
        process = child(
            """
            import sys, time
            from factstr import NewEvent
            from factstr.sqlite import SQLiteStore
            with SQLiteStore(sys.argv[1]) as store:
                for _ in range(5):
                    store.append([NewEvent("ping", {})])
                    print(time.monotonic(), flush=True)
                    time.sleep(0.2)
            """,
            database,
        )
        sent = [float(line) for line in finish(process).splitlines()]
        assert stream.wait_until(5, timeout=10)
    latencies = [got - put for put, got in zip(sent, received, strict=True)]
    assert max(latencies) < 0.5, latencies  # watch interval 25 ms; generous for a noisy machine


_HOLDER = """
    import sys
    from factstr.sqlite import SQLiteStore
    with SQLiteStore(sys.argv[1]) as store:
        stream = store.stream_all_durable("projection", lambda batch: None)
        print("held", flush=True)
        sys.stdin.readline()
        stream.unsubscribe()
        print("released", flush=True)
        sys.stdin.readline()
"""


@pytest.fixture
def holder(database: str) -> Iterator[subprocess.Popen[str]]:
    """A child process that holds the durable name "projection" until told to unsubscribe."""
    SQLiteStore(database).close()
    process = child(_HOLDER, database, interactive=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    yield process
    if process.poll() is None:
        process.kill()
    process.communicate()


def test_a_durable_name_held_by_another_process_is_refused_until_it_unsubscribes(
    database: str, holder: subprocess.Popen[str]
) -> None:
    assert holder.stdin is not None and holder.stdout is not None
    with SQLiteStore(database) as store:
        with pytest.raises(DurableStreamActive):
            store.stream_all_durable("projection", lambda batch: None)
        info = store.durable_stream("projection")
        assert info is not None and info.active
        holder.stdin.write("unsubscribe\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        info = store.durable_stream("projection")
        assert info is not None and not info.active
        store.stream_all_durable("projection", lambda batch: None).unsubscribe()


def test_a_durable_name_is_released_when_its_holder_process_dies(database: str, holder: subprocess.Popen[str]) -> None:
    with SQLiteStore(database) as store:
        with pytest.raises(DurableStreamActive):
            store.stream_all_durable("projection", lambda batch: None)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        with store.stream_all_durable("projection", lambda batch: None):
            info = store.durable_stream("projection")
            assert info is not None and info.active


def test_a_durable_name_is_held_against_a_second_store_object_in_one_process(database: str) -> None:
    with SQLiteStore(database) as first, SQLiteStore(database) as second:
        with first.stream_all_durable("projection", lambda batch: None):
            with pytest.raises(DurableStreamActive):
                second.stream_all_durable("projection", lambda batch: None)
            info = second.durable_stream("projection")
            assert info is not None and info.active
        second.stream_all_durable("projection", lambda batch: None).unsubscribe()


def test_processes_creating_one_new_file_at_once_all_open_it(database: str) -> None:
    children = [child(_APPENDER, database, f"p{n}", "3") for n in range(4)]
    ranges = [json.loads(line) for process in children for line in finish(process).splitlines()]
    with SQLiteStore(database) as store:
        assert store.head() == sum(count for _, count in ranges)
