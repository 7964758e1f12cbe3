"""Conformance tests of C8: extensions (see docs/contract.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ..._errors import ConditionalAppendConflict, EmptyAppend, InvalidInput, StoreClosed
from ..._model import EventQuery, EventRecord
from ..._store import EventStore
from .._backends import Backend
from .._helpers import Recorder, event, numbers, query, seed


def test_limit_caps_records_but_not_the_context_version(store: EventStore) -> None:
    """C8: limit caps the records; current_context_version is unchanged."""
    seed(store)
    result = store.query(query(limit=2))
    assert numbers(result.event_records) == [1, 2]
    assert (result.last_returned_sequence_number, result.current_context_version) == (2, 5)
    empty = store.query(query(limit=0))
    assert (empty.event_records, empty.last_returned_sequence_number, empty.current_context_version) == (
        [],
        None,
        5,
    )


def test_backwards_returns_newest_first(store: EventStore) -> None:
    """C8: backwards returns newest first; last_returned is the last in returned order."""
    seed(store)
    result = store.query(query(predicates=[{"account": "a"}], backwards=True))
    assert numbers(result.event_records) == [5, 3, 1]
    assert (result.last_returned_sequence_number, result.current_context_version) == (1, 5)


def test_backwards_with_limit_and_min_sequence_number(store: EventStore) -> None:
    """C8: backwards with limit reads the newest; min_sequence_number still bounds from below."""
    seed(store)
    result = store.query(query(backwards=True, limit=2, min_sequence_number=1))
    assert numbers(result.event_records) == [5, 4]
    assert (result.last_returned_sequence_number, result.current_context_version) == (4, 5)
    bounded = store.query(query(backwards=True, min_sequence_number=3))
    assert numbers(bounded.event_records) == [5, 4]


def test_limit_with_min_sequence_number_pages_through_the_log(store: EventStore) -> None:
    """C8: pages of a limited query, continued from last_returned, read the whole log once."""
    store.append([event("e", {"i": i}) for i in range(23)])
    seen: list[int] = []
    after = 0
    while True:
        page = store.query(query(min_sequence_number=after, limit=5))
        if not page.event_records:
            break
        seen.extend(numbers(page.event_records))
        assert page.last_returned_sequence_number is not None
        after = page.last_returned_sequence_number
    assert seen == list(range(1, 24))


def test_head_is_the_highest_committed_number(store: EventStore) -> None:
    """C8: head() returns the highest committed sequence number, or None."""
    assert store.head() is None
    seed(store)
    assert store.head() == 5


def _local_only(backend: Backend) -> None:
    if backend.name.startswith("http"):
        pytest.skip("import_batch works on a store opened directly, not over HTTP")


def test_import_batch_keeps_numbers_boundaries_and_occurred_at(backend: Backend) -> None:
    """C8: an exported batch imported into another store keeps its numbers, its batch and its commit time."""
    _local_only(backend)
    store = backend.open()
    first_time = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    later = datetime(2024, 5, 6, 9, 8, 9, 654321, tzinfo=timezone(timedelta(hours=2)))  # 07:08:09 UTC
    store.import_batch([EventRecord(1, first_time, "a", {"x": 1}), EventRecord(2, first_time, "b", None)])
    result = store.import_batch([EventRecord(3, later, "c", [1])])
    assert (result.first_sequence_number, result.last_sequence_number) == (3, 3)
    records = store.query(EventQuery()).event_records
    assert [(r.sequence_number, r.occurred_at, r.event_type, r.payload) for r in records] == [
        (1, first_time, "a", {"x": 1}),
        (2, first_time, "b", None),
        (3, later, "c", [1]),
    ]
    assert records[2].occurred_at.utcoffset() == timedelta(0)
    recorder = Recorder()
    with store.stream_all_durable("imported", recorder) as stream:
        assert stream.wait_until(3, timeout=10)
    assert recorder.batch_numbers == [[1, 2], [3]]
    assert store.append([event("after")]).first_sequence_number == 4


def test_import_batch_lands_right_after_the_head_or_not_at_all(backend: Backend) -> None:
    """C8: a batch that does not continue the log is refused with the head as actual; nothing is written."""
    _local_only(backend)
    store = backend.open()
    when = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(ConditionalAppendConflict) as raised:
        store.import_batch([EventRecord(5, when, "a", {})])
    assert (raised.value.expected, raised.value.actual) == (4, None)
    store.append([event("a")])
    with pytest.raises(ConditionalAppendConflict):
        store.import_batch([EventRecord(1, when, "a", {})])
    assert store.head() == 1


def test_bad_import_batch_raises_invalid_input(store: EventStore) -> None:
    """C7: an import batch must be consecutive records sharing one timezone-aware commit time."""
    when = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(EmptyAppend):
        store.import_batch([])
    bad_batches: list[object] = [
        [EventRecord(1, datetime(2024, 1, 1), "a", {})],
        [EventRecord(1, when, "a", {}), EventRecord(3, when, "a", {})],
        [EventRecord(1, when, "a", {}), EventRecord(2, when + timedelta(seconds=1), "a", {})],
        [EventRecord(0, when, "a", {})],
        [{"sequence_number": 1}],
        [EventRecord(1, when, "", {})],
        [EventRecord(1, when, "a", {"v": float("nan")})],
        EventRecord(1, when, "a", {}),
    ]
    for bad in bad_batches:
        with pytest.raises(InvalidInput):
            store.import_batch(bad)  # type: ignore[arg-type]
    assert store.head() is None


def test_store_is_a_context_manager(backend: Backend) -> None:
    """C8: every store is a context manager; leaving it closes the store."""
    with backend.open() as store:
        store.append([event("a")])
    with pytest.raises(StoreClosed):
        store.head()


__all__ = sorted(name for name in dict(globals()) if name.startswith("test_"))
