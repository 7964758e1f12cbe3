"""The window of recent commits: the log itself over its range, or nothing (then streams read the table)."""

from __future__ import annotations

import threading
import time

import msgspec

from factstr import EventFilter, EventQuery, EventRecord, NewEvent
from factstr._matching import Filters
from factstr._store import Scan
from factstr._validation import check_filters
from factstr.postgres import PostgresStore
from factstr.postgres._window import Window

ALL = None
MICROS = 1_765_000_000_000_000


def message(first: int, *batches: list[tuple[str, object]]) -> str:
    """A commit's message: the head, the first number, then each batch (its commit time and its events)."""
    head = first + sum(len(batch) for batch in batches) - 1
    body = msgspec.json.encode(
        [[MICROS + index, [list(event) for event in batch]] for index, batch in enumerate(batches)]
    )
    return f"{head} {first} {body.decode()}"


def numbers(window: Window, after: int, limit: int = 100) -> list[int] | None:
    scan = window.read(after, ALL, limit)
    return None if scan is None else [record.sequence_number for record in scan.records]


def test_nothing_is_read_from_a_window_without_a_live_session() -> None:
    window = Window()
    window.add(message(1, [("a", 1)]))
    assert window.read(0, ALL, 10) is None
    window.open()
    window.add(message(2, [("a", 2)]))
    assert numbers(window, 1) == [2]
    window.close()
    assert window.read(1, ALL, 10) is None


def test_contiguous_batches_are_read_with_their_starts_and_the_end_as_horizon() -> None:
    window = Window()
    window.open()
    window.add(message(5, [("a", {"k": 1}), ("b", {"k": 2})], [("a", {"k": 3})]))
    window.add(message(8, [("b", {"k": 4})]))
    scan = window.read(4, ALL, 10)
    assert scan is not None
    assert [record.sequence_number for record in scan.records] == [5, 6, 7, 8]
    assert scan.batch_starts == [5, 5, 7, 8] and scan.horizon == 8
    assert scan.records[2].occurred_at.timestamp() * 1_000_000 == MICROS + 1
    limited = window.read(4, ALL, 2)
    assert limited is not None and limited.horizon == 6
    only_b = window.read(4, check_filters([EventFilter(event_types=["b"])]), 10)
    assert only_b is not None and [record.payload for record in only_b.records] == [{"k": 2}, {"k": 4}]
    assert only_b.horizon == 8
    assert numbers(window, 8) == []  # nothing after the end is known, nor missing
    assert numbers(window, 3) is None and numbers(window, 9) is None  # outside the window: read the table


def test_a_gap_or_a_commit_without_its_batches_empties_the_window() -> None:
    window = Window()
    window.open()
    window.add(message(1, [("a", 1)]))
    window.add(message(3, [("a", 3)]))  # 2's notification has not come: start over at 3
    assert numbers(window, 0) is None and numbers(window, 2) == [3]
    window.add(message(2, [("a", 2)]))  # older than the window: already read from the table by anyone behind it
    assert numbers(window, 2) == [3]
    window.add("9")  # 4..9 committed, too large to carry
    assert numbers(window, 2) is None and numbers(window, 9) is None
    window.add(message(10, [("a", 10)]))
    assert numbers(window, 9) == [10]
    window.add(message(10, [("a", 10)]))  # the notification of a batch an appender added already
    assert numbers(window, 9) == [10]


def test_the_oldest_whole_batches_are_dropped_beyond_the_capacity() -> None:
    window = Window(capacity=4)
    window.open()
    window.add(message(1, [("a", 1), ("a", 2), ("a", 3)]))
    window.add(message(4, [("a", 4), ("a", 5)]))
    assert numbers(window, 0) is None and numbers(window, 3) == [4, 5]


def test_streams_get_exactly_the_records_the_table_holds_from_the_window_or_the_table(store: PostgresStore) -> None:
    got: list[EventRecord] = []
    done = threading.Event()
    served = {"window": 0, "table": 0}
    read = store._window.read

    def counting(after: int, filters: Filters, limit: int) -> Scan | None:
        scan = read(after, filters, limit)
        served["table" if scan is None else "window"] += 1
        return scan

    store._window.read = counting  # type: ignore[method-assign]

    def handle(batch: list[EventRecord]) -> None:
        got.extend(batch)
        if got[-1].payload == {"last": True}:
            done.set()

    with store.stream_all(handle):
        assert store._listener is not None and store._listener.connected.wait(10)
        for index in range(30):
            size = 40 if index % 7 == 3 else 1 + index % 3  # some batches too large for a notification
            store.append(
                [
                    NewEvent(f't{index % 2} "q" \\ ü', {"i": index, "z": [1.5, None, "ü"], "a": {"b": j}})
                    for j in range(size)
                ]
            )
            if index % 5 == 0:
                time.sleep(0.01)
        store.append([NewEvent("t0", {"last": True})])
        assert done.wait(10)
    stored = store.query(EventQuery()).event_records
    # Byte for byte, keys in the stored order included.
    assert msgspec.json.encode(got) == msgspec.json.encode(stored)
    assert served["window"] > 0 and served["table"] > 0, served
