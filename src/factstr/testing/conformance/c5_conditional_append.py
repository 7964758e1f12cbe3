"""Conformance tests of C5: conditional append (see docs/contract.md)."""

from __future__ import annotations

import contextlib
import threading

import pytest

from ..._errors import ConditionalAppendConflict, EventStoreError
from ..._model import EventQuery
from ..._store import EventStore
from .._backends import Backend
from .._helpers import Recorder, event, matching_numbers, query, seed


def test_append_if_commits_when_the_context_is_unchanged(store: EventStore) -> None:
    """C5: append_if commits when the current version equals the expected one."""
    seed(store)
    context = query(predicates=[{"account": "a"}])
    version = store.query(context).current_context_version
    result = store.append_if([event("withdrawn", {"account": "a", "amount": 1})], context, version)
    assert result.first_sequence_number == 6


def test_append_if_with_none_expects_no_matching_event(store: EventStore) -> None:
    """C5: expected None means no event matches the context."""
    context = query(types=["account-opened"], predicates=[{"account": "x"}])
    store.append_if([event("account-opened", {"account": "x"})], context, None)
    with pytest.raises(ConditionalAppendConflict) as raised:
        store.append_if([event("account-opened", {"account": "x"})], context, None)
    assert (raised.value.expected, raised.value.actual) == (None, 1)


def test_append_if_conflict_reports_expected_and_actual(store: EventStore) -> None:
    """C5: a stale version raises ConditionalAppendConflict with both versions."""
    seed(store)
    context = query(predicates=[{"account": "a"}])
    with pytest.raises(ConditionalAppendConflict) as raised:
        store.append_if([event("x")], context, 3)
    assert (raised.value.expected, raised.value.actual) == (3, 5)
    assert isinstance(raised.value, EventStoreError)


def test_failed_append_if_consumes_no_sequence_number(store: EventStore) -> None:
    """C5: a conflict commits nothing and consumes no number."""
    seed(store)
    with pytest.raises(ConditionalAppendConflict):
        store.append_if([event("x"), event("y")], query(types=["opened"]), 1)
    assert store.head() == 5
    assert store.append([event("z")]).first_sequence_number == 6
    assert matching_numbers(store, EventQuery()) == [1, 2, 3, 4, 5, 6]


def test_append_if_ignores_min_sequence_number_and_limit_of_its_context(store: EventStore) -> None:
    """C5: the context version ignores min_sequence_number (and limit)."""
    seed(store)
    context = query(predicates=[{"account": "a"}], min_sequence_number=100, limit=1)
    with pytest.raises(ConditionalAppendConflict) as raised:
        store.append_if([event("x")], context, None)
    assert raised.value.actual == 5
    store.append_if([event("x")], context, 5)


def test_append_if_context_of_other_facts_does_not_conflict(store: EventStore) -> None:
    """C5: facts outside the context do not change its version."""
    context = query(types=["booked"], predicates=[{"room": 1}])
    store.append_if([event("booked", {"room": 1})], context, None)
    store.append([event("booked", {"room": 2}), event("cancelled", {"room": 1})])
    store.append_if([event("booked", {"room": 1})], context, 1)
    assert store.head() == 4


def test_conflicting_append_if_delivers_nothing(store: EventStore) -> None:
    """C5, C6: a conflicting append_if is never delivered to a stream."""
    recorder = Recorder()
    with store.stream_all(recorder):
        store.append([event("a")])
        with pytest.raises(ConditionalAppendConflict):
            store.append_if([event("rejected")], EventQuery(), None)
        store.append([event("b")])
        assert recorder.wait_for_number(2)
    assert recorder.batch_numbers == [[1], [2]]
    assert [batch[0].event_type for batch in recorder.batches] == ["a", "b"]


def test_exactly_one_of_racing_append_ifs_wins(store: EventStore) -> None:
    """C5: 8 threads race append_if on one context at the same version: exactly one commits."""
    store.append([event("seat-released", {"seat": "12A"})])
    context = query(predicates=[{"seat": "12A"}])
    version = store.query(context).current_context_version
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def contender(worker: int) -> None:
        barrier.wait()
        try:
            store.append_if([event("seat-taken", {"seat": "12A", "by": worker})], context, version)
            outcome = "won"
        except ConditionalAppendConflict as conflict:
            assert (conflict.expected, conflict.actual) == (version, 2)
            outcome = "lost"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=contender, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]
    assert store.head() == 2


def test_numbers_stay_gapless_under_racing_append_ifs(store: EventStore) -> None:
    """C4, C5: conflicts interleaved with commits leave no gap."""

    def contender(worker: int) -> None:
        context = query(types=["counter"])
        for _ in range(15):
            version = store.query(context).current_context_version
            with contextlib.suppress(ConditionalAppendConflict):
                store.append_if([event("counter", {"worker": worker})], context, version)
            store.append([event("noise", {"worker": worker})])

    threads = [threading.Thread(target=contender, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seqs = matching_numbers(store, EventQuery())
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(matching_numbers(store, query(types=["noise"]))) == 90


def test_append_if_is_atomic_across_handles(backend: Backend) -> None:
    """C5: the check and the write are atomic against writers using other handles on the database."""
    if not backend.shares_database:
        pytest.skip("this store has no second handle on the same database")
    stores = [backend.open() for _ in range(4)]
    context = query(types=["slot-reserved"], predicates=[{"slot": 1}])
    barrier = threading.Barrier(len(stores))
    wins: list[int] = []

    def contender(index: int) -> None:
        barrier.wait()
        try:
            stores[index].append_if([event("slot-reserved", {"slot": 1})], context, None)
            wins.append(index)
        except ConditionalAppendConflict:
            pass

    threads = [threading.Thread(target=contender, args=(index,)) for index in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert stores[0].head() == 1


__all__ = sorted(name for name in dict(globals()) if name.startswith("test_"))
