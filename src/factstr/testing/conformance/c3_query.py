"""Conformance tests of C3: query (see docs/contract.md)."""

from __future__ import annotations

import threading

from ..._model import EventQuery
from ..._store import EventStore
from .._helpers import event, matching_numbers, numbers, query, seed


def test_query_returns_matching_events_in_ascending_order(store: EventStore) -> None:
    """C3: matching events in ascending sequence order."""
    seed(store)
    result = store.query(query(predicates=[{"account": "a"}]))
    assert numbers(result.event_records) == [1, 3, 5]
    assert (result.last_returned_sequence_number, result.current_context_version) == (5, 5)


def test_min_sequence_number_is_exclusive(store: EventStore) -> None:
    """C3: only events after min_sequence_number are returned."""
    seed(store)
    assert matching_numbers(store, query(min_sequence_number=3)) == [4, 5]
    assert matching_numbers(store, query(min_sequence_number=5)) == []


def test_min_sequence_number_none_and_zero_read_from_the_start(store: EventStore) -> None:
    """C3: None and 0 read from the start."""
    seed(store)
    assert matching_numbers(store, query(min_sequence_number=0)) == [1, 2, 3, 4, 5]
    assert matching_numbers(store, query(min_sequence_number=None)) == [1, 2, 3, 4, 5]


def test_current_context_version_ignores_min_sequence_number(store: EventStore) -> None:
    """C3: current_context_version is the highest match in the whole log."""
    seed(store)
    result = store.query(query(predicates=[{"account": "b"}], min_sequence_number=4))
    assert result.event_records == []
    assert result.last_returned_sequence_number is None
    assert result.current_context_version == 4


def test_context_version_is_the_last_match_not_the_head(store: EventStore) -> None:
    """C3: the version is the highest matching number, not the log's head."""
    seed(store)
    result = store.query(query(types=["opened"]))
    assert (result.last_returned_sequence_number, result.current_context_version) == (2, 2)
    assert store.head() == 5


def test_query_without_match_returns_no_numbers(store: EventStore) -> None:
    """C3: both numbers are None when nothing matches."""
    seed(store)
    result = store.query(query(types=["missing"]))
    assert (result.event_records, result.last_returned_sequence_number, result.current_context_version) == (
        [],
        None,
        None,
    )


def test_query_on_an_empty_log(store: EventStore) -> None:
    """C3, C8: an empty log returns nothing and head is None."""
    result = store.query(EventQuery())
    assert (result.event_records, result.last_returned_sequence_number, result.current_context_version) == (
        [],
        None,
        None,
    )
    assert store.head() is None


def test_query_is_one_snapshot_under_concurrent_appends(store: EventStore) -> None:
    """C3: records and both numbers come from one snapshot; last_returned <= current_context_version."""
    done = threading.Event()

    def writer() -> None:
        for _ in range(150):
            store.append([event("tick", {"k": 1}), event("tock", {"k": 1})])
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while not done.is_set():
            result = store.query(query(predicates=[{"k": 1}]))
            seqs = numbers(result.event_records)
            assert seqs == list(range(1, len(seqs) + 1)), "a reader saw a gap"
            assert len(seqs) % 2 == 0, "a reader saw half a batch"
            if seqs:
                assert result.last_returned_sequence_number == result.current_context_version == seqs[-1]
            limited = store.query(query(predicates=[{"k": 1}], min_sequence_number=1, limit=1))
            if limited.last_returned_sequence_number is not None:
                assert limited.current_context_version is not None
                assert limited.last_returned_sequence_number <= limited.current_context_version
    finally:
        thread.join()


__all__ = sorted(name for name in dict(globals()) if name.startswith("test_"))
