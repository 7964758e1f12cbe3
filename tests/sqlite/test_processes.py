"""Several processes on one file: gapless numbers, atomic append_if, cross-process streams and holds."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from factstr import BackendError, DurableStreamActive, EventFilter, EventQuery, EventRecord, NewEvent
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


def test_a_follower_process_receives_batches_of_another_process_without_waiting_for_the_poll(database: str) -> None:
    # Both polls (the watcher's data_version poll and the workers' safety poll) at 10 s: only the wake-up that
    # the writing process sends after each commit can deliver within the second allowed below.
    received: list[tuple[float, list[int]]] = []

    def handler(batch: list[EventRecord]) -> None:
        received.append((time.monotonic(), [record.sequence_number for record in batch]))

    with (
        SQLiteStore(database, poll_interval=10.0, watch_interval=10.0) as store,
        store.stream_all(handler) as stream,
    ):
        process = child(
            """
            import sys, time
            from factstr import NewEvent
            from factstr.sqlite import SQLiteStore
            with SQLiteStore(sys.argv[1]) as store:
                for size in (1, 3, 2, 1, 5):
                    store.append([NewEvent("ping", {"n": n}) for n in range(size)])
                    print(time.monotonic(), flush=True)
                    time.sleep(0.3)
            """,
            database,
        )
        sent = [float(line) for line in finish(process).splitlines()]
        assert stream.wait_until(12, timeout=10)
    assert [numbers for _, numbers in received] == [[1], [2, 3, 4], [5, 6], [7], [8, 9, 10, 11, 12]]
    latencies = [got - put for put, (got, _) in zip(sent, received, strict=True)]
    assert max(latencies) < 1.0, latencies


def test_an_idle_follower_does_not_poll(database: str) -> None:
    with SQLiteStore(database, poll_interval=10.0, watch_interval=10.0) as store, store.stream_all(lambda batch: None):
        time.sleep(0.2)  # the watcher's start-up wake-up
        seen = store.notifier.version()
        time.sleep(1.0)
        assert store.notifier.version() == seen  # nothing woke anyone: no commit, no poll
        store.append([NewEvent("t", {})])
        assert store.notifier.version() > seen


def test_the_fallback_poll_finds_commits_that_came_without_a_wake_up(database: str) -> None:
    received: list[int] = []
    with (
        SQLiteStore(database, poll_interval=10.0, watch_interval=0.05) as store,
        store.stream_all(lambda batch: received.extend(r.sequence_number for r in batch)) as stream,
    ):
        other = sqlite3.connect(database, isolation_level=None)  # a writer that sends no wake-up
        try:
            other.execute(
                "INSERT INTO events (seq, batch_start, occurred_at, event_type, payload) VALUES (1, 1, 0, 'raw', '{}')"
            )
        finally:
            other.close()
        assert stream.wait_until(1, timeout=10)
    assert received == [1]


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


_LOCKER = """
    import fcntl, os, sys
    descriptor = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    print("locked", flush=True)
    sys.stdin.readline()
    fcntl.flock(descriptor, fcntl.LOCK_UN)
    print("unlocked", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def writers_lock_holder(database: str) -> Iterator[subprocess.Popen[str]]:
    """A child process that holds the writers' lock of the database until told to release it."""
    SQLiteStore(database).close()
    process = child(_LOCKER, database + ".locks/writer", interactive=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "locked"
    yield process
    if process.poll() is None:
        process.kill()
    process.communicate()


def test_a_writer_waits_for_the_writers_lock_of_another_process_and_goes_on_at_once(
    database: str, writers_lock_holder: subprocess.Popen[str]
) -> None:
    assert writers_lock_holder.stdin is not None and writers_lock_holder.stdout is not None
    with SQLiteStore(database) as store:
        appended: list[float] = []

        def append() -> None:
            store.append([NewEvent("t", {})])
            appended.append(time.monotonic())

        thread = threading.Thread(target=append)
        thread.start()
        time.sleep(0.3)
        assert not appended and store.head() is None  # waiting for the other writer
        writers_lock_holder.stdin.write("release\n")
        writers_lock_holder.stdin.flush()
        assert writers_lock_holder.stdout.readline().strip() == "unlocked"
        released = time.monotonic()
        thread.join(timeout=10)
        assert appended and appended[0] - released < 1.0  # woken, not polling in growing steps
        assert store.head() == 1


def test_a_writer_gives_up_after_busy_timeout_and_a_later_write_succeeds(
    database: str, writers_lock_holder: subprocess.Popen[str]
) -> None:
    assert writers_lock_holder.stdin is not None and writers_lock_holder.stdout is not None
    with SQLiteStore(database, busy_timeout=0.2) as store:
        with pytest.raises(BackendError, match="locked"):
            store.append([NewEvent("t", {})])
        with pytest.raises(BackendError, match="locked"):
            store.stream_all_durable("cursor", lambda batch: None)  # writing its cursor waits likewise
        writers_lock_holder.stdin.write("release\n")
        writers_lock_holder.stdin.flush()
        assert writers_lock_holder.stdout.readline().strip() == "unlocked"
        # The helper that kept waiting after the first writer gave up got the lock and let it go again.
        assert store.append([NewEvent("t", {})]).first_sequence_number == 1
        with SQLiteStore(database, busy_timeout=0.2) as other:
            assert other.append([NewEvent("t", {})]).first_sequence_number == 2


def test_the_writers_lock_of_a_killed_process_is_released(
    database: str, writers_lock_holder: subprocess.Popen[str]
) -> None:
    with SQLiteStore(database) as store:
        thread = threading.Thread(target=lambda: store.append([NewEvent("t", {})]))
        thread.start()
        time.sleep(0.2)
        writers_lock_holder.send_signal(signal.SIGKILL)
        thread.join(timeout=10)
        assert store.head() == 1


def test_the_wake_up_pipe_of_a_killed_follower_is_removed_by_the_next_writer(database: str) -> None:
    SQLiteStore(database).close()
    follower = child(
        """
        import sys
        from factstr.sqlite import SQLiteStore
        store = SQLiteStore(sys.argv[1])
        store.stream_all(lambda batch: None)
        print("following", flush=True)
        sys.stdin.readline()
        """,
        database,
        interactive=True,
    )
    assert follower.stdout is not None and follower.stdout.readline().strip() == "following"
    pipes = os.listdir(database + ".locks/wake")
    assert len(pipes) == 1 and stat.S_ISFIFO(os.stat(os.path.join(database + ".locks/wake", pipes[0])).st_mode)
    follower.send_signal(signal.SIGKILL)
    follower.communicate()
    with SQLiteStore(database) as store:
        store.append([NewEvent("t", {})])
        assert os.listdir(database + ".locks/wake") == []
        with store.stream_all(lambda batch: None):  # a store registers at its first stream, until it closes
            assert len(os.listdir(database + ".locks/wake")) == 1
        store.close()
        assert os.listdir(database + ".locks/wake") == []
