"""Conformance tests of C4: append (see docs/contract.md)."""

from __future__ import annotations

import threading

import pytest

from ..._errors import EmptyAppend, InvalidInput
from ..._model import EventQuery, NewEvent
from ..._store import EventStore
from .._backends import Backend
from .._helpers import event, matching_numbers, numbers


def test_sequence_numbers_start_at_one_and_are_consecutive(store: EventStore) -> None:
    """C4: numbers are global, start at 1, one consecutive range per batch."""
    first = store.append([event("a"), event("b")])
    second = store.append([event("c")])
    assert (first.first_sequence_number, first.last_sequence_number) == (1, 2)
    assert (second.first_sequence_number, second.last_sequence_number) == (3, 3)
    assert matching_numbers(store, EventQuery()) == [1, 2, 3]
    assert store.head() == 3


def test_empty_append_raises_empty_append(store: EventStore) -> None:
    """C4: an empty list raises EmptyAppend and commits nothing."""
    with pytest.raises(EmptyAppend):
        store.append([])
    assert store.head() is None


def test_empty_append_if_raises_empty_append_before_anything_else(store: EventStore) -> None:
    """C4: EmptyAppend comes before any other check, also in append_if."""
    with pytest.raises(EmptyAppend):
        store.append_if([], {"not": "a query"}, -1)  # type: ignore[arg-type]


def test_invalid_event_in_a_batch_commits_nothing(store: EventStore) -> None:
    """C4, C7: one bad event fails the whole batch, and no number is consumed."""
    store.append([event("a")])
    with pytest.raises(InvalidInput):
        store.append([event("b"), NewEvent("", {}), event("c")])
    assert store.append([event("d")]).first_sequence_number == 2
    assert [r.event_type for r in store.query(EventQuery()).event_records] == ["a", "d"]


def test_concurrent_appends_are_gapless_and_atomic(store: EventStore) -> None:
    """C4, C8: appends from many threads give gapless numbers and whole batches."""
    results = []
    lock = threading.Lock()

    def writer(worker: int) -> None:
        for round_ in range(10):
            result = store.append([event("w", {"worker": worker, "round": round_, "i": i}) for i in range(3)])
            with lock:
                results.append(result)

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = store.query(EventQuery()).event_records
    assert numbers(records) == list(range(1, 241))
    for result in results:
        batch = records[result.first_sequence_number - 1 : result.last_sequence_number]
        assert len({(r.payload["worker"], r.payload["round"]) for r in batch}) == 1
        assert [r.payload["i"] for r in batch] == [0, 1, 2]


def test_appends_through_two_handles_share_one_sequence(backend: Backend) -> None:
    """C4: numbers are global across every handle on the same database."""
    if not backend.shares_database:
        pytest.skip("this store has no second handle on the same database")
    first, second = backend.open(), backend.open()
    first.append([event("a")])
    assert second.append([event("b")]).first_sequence_number == 2
    assert numbers(first.query(EventQuery()).event_records) == [1, 2]


__all__ = sorted(name for name in dict(globals()) if name.startswith("test_"))
