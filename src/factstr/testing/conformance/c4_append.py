"""Conformance tests of C4: append (see docs/contract.md)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import pytest

from ..._errors import EmptyAppend, EventStoreError, InvalidInput
from ..._model import EventFilter, EventQuery, NewEvent
from ..._store import Condition, EventStore
from ..._validation import PreparedEvent
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


# Bad appends of one caller, each of which a database would refuse if it got that far; group commit shares one
# statement between concurrent callers, so validation must refuse them before they can join a group.
_CJK_TYPE = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(4000))
POISON: list[Callable[[EventStore], object]] = [
    lambda store: store.append([NewEvent("\ud800", {})]),
    lambda store: store.append([NewEvent(_CJK_TYPE, {})]),
    lambda store: store.append([NewEvent("a\nb", {})]),
    lambda store: store.append([event("t", {"k": ["\udfff"]})]),
    lambda store: store.append_if([event("t")], EventQuery(), 2**63),
    lambda store: store.append_if(
        [event("t")], EventQuery(filters=[EventFilter(payload_predicates=list(range(70_000)))]), None
    ),
    lambda store: store.append_if([event("t")], EventQuery(filters=[EventFilter(event_types=["\udc00"])]), None),
]


def _run_with_a_poisoner(store: EventStore, poison: Callable[[int], None], writers: int = 6, rounds: int = 12) -> None:
    """Good writers append ``rounds`` batches each while ``poison`` is called over and over; every good append
    must succeed, and the log must hold exactly the good batches, whole and gapless."""
    failures: list[object] = []
    done = threading.Event()

    def poisoner() -> None:
        attempt = 0
        while not done.is_set() or attempt < len(POISON):
            try:
                poison(attempt)
            except Exception as exc:  # the poisoner's own outcome is checked by ``poison``
                failures.append(("poisoner", attempt, exc))
            attempt += 1

    finished = threading.Barrier(writers, action=done.set)

    def writer(worker: int) -> None:
        for round_ in range(rounds):
            try:
                store.append([event("good", {"worker": worker, "round": round_, "i": i}) for i in range(2)])
            except Exception as exc:
                failures.append(("good append", worker, round_, exc))
        finished.wait()

    threads = [threading.Thread(target=poisoner)]
    threads += [threading.Thread(target=writer, args=(worker,)) for worker in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    good = store.query(EventQuery(filters=[EventFilter(event_types=["good"])])).event_records
    assert len(good) == writers * rounds * 2
    pairs = [good[index : index + 2] for index in range(0, len(good), 2)]
    assert all(first.sequence_number + 1 == second.sequence_number for first, second in pairs)
    assert {(first.payload["worker"], first.payload["round"]) for first, _ in pairs} == {
        (worker, round_) for worker in range(writers) for round_ in range(rounds)
    }


def test_one_callers_bad_appends_never_fail_concurrent_good_appends(store: EventStore) -> None:
    """C4, C7: while one caller keeps sending bad appends (each raising InvalidInput), every good append of
    the other callers succeeds: a batch may fail only its own caller."""

    def poison(attempt: int) -> None:
        try:
            POISON[attempt % len(POISON)](store)
        except InvalidInput:
            return
        raise AssertionError(f"bad append {attempt % len(POISON)} was not refused")

    _run_with_a_poisoner(store, poison)
    assert store.head() == 6 * 12 * 2


def test_a_batch_refused_at_commit_fails_only_its_own_caller(store: EventStore) -> None:
    """C4: a batch that reaches the commit unvalidated (through the stores' internal append path) and is
    refused there fails at most its own caller, never the good appends committed in the same group. Over HTTP
    the server gets these batches as sent, so its own validation is what refuses them."""
    refused_at_commit: list[tuple[list[PreparedEvent], Condition | None]] = [
        # Above PostgreSQL's btree row limit for the type index.
        ([PreparedEvent(_CJK_TYPE, {}, "{}")], None),
        # Beyond a signed 64-bit number.
        ([PreparedEvent("t", {}, "{}")], Condition(None, 2**63)),
    ]

    def poison(attempt: int) -> None:
        events, condition = refused_at_commit[attempt % len(refused_at_commit)]
        # A store without a database to refuse it (Memory) may commit it; the others must not fail.
        with contextlib.suppress(EventStoreError):
            store._append(events, condition)

    _run_with_a_poisoner(store, poison)


def test_appends_through_two_handles_share_one_sequence(backend: Backend) -> None:
    """C4: numbers are global across every handle on the same database."""
    if not backend.shares_database:
        pytest.skip("this store has no second handle on the same database")
    first, second = backend.open(), backend.open()
    first.append([event("a")])
    assert second.append([event("b")]).first_sequence_number == 2
    assert numbers(first.query(EventQuery()).event_records) == [1, 2]


__all__ = sorted(name for name in dict(globals()) if name.startswith("test_"))
