"""Appends from many threads of one process: shared transactions, separate outcomes, and a batch SQLite refuses
fails only its own caller. (The committer itself: tests/unit/test_group.py.)"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from collections import Counter

from factstr import (
    AppendResult,
    BackendError,
    ConditionalAppendConflict,
    EventFilter,
    EventQuery,
    InvalidInput,
    NewEvent,
)
from factstr._group import Outcome
from factstr._store import Condition
from factstr._validation import Idempotency, PreparedEvent, check_events, check_idempotency_key, check_query
from factstr.sqlite import SQLiteStore
from factstr.sqlite._store import _Batch
from factstr.sqlite._terms import payload_document


def _in_threads(count: int, work: object) -> None:
    assert callable(work)
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        work(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_concurrent_appends_get_their_own_gapless_ranges(store: SQLiteStore) -> None:
    results: dict[int, list[AppendResult]] = {}

    def work(index: int) -> None:
        results[index] = [store.append([NewEvent("t", {"thread": index, "i": i})] * (1 + i % 3)) for i in range(20)]

    _in_threads(8, work)
    ranges = sorted(
        (r.first_sequence_number, r.last_sequence_number) for outcomes in results.values() for r in outcomes
    )
    assert ranges[0][0] == 1
    for (_, last), (first, _) in itertools.pairwise(ranges):
        assert first == last + 1
    records = store.query(EventQuery()).event_records
    for index, outcomes in results.items():
        for i, result in enumerate(outcomes):
            batch = records[result.first_sequence_number - 1 : result.last_sequence_number]
            assert {(r.payload["thread"], r.payload["i"]) for r in batch} == {(index, i)}


def test_grouped_conditional_appends_each_check_their_own_condition(store: SQLiteStore) -> None:
    # Every thread races for the same context version: exactly one wins each round, the others conflict
    # (seeing the winner's event, even when both were in one transaction) and consume no number.
    context = EventQuery(filters=[EventFilter(event_types=["claimed"])])
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def work(index: int) -> None:
        for _ in range(10):
            version = store.query(context).current_context_version
            try:
                store.append_if([NewEvent("claimed", {"by": index})], context, version)
                outcome = "won"
            except ConditionalAppendConflict as conflict:
                assert conflict.actual is not None and conflict.actual != version
                outcome = "conflict"
            with lock:
                outcomes[outcome] += 1

    _in_threads(8, work)
    claimed = store.query(context).event_records
    assert len(claimed) == outcomes["won"] == store.head()
    assert [r.sequence_number for r in claimed] == list(range(1, len(claimed) + 1))


def test_a_failing_group_fails_every_append_in_it_and_commits_nothing(store: SQLiteStore) -> None:
    store.append([NewEvent("t", {})])
    store._writer.execute("DROP TABLE event_terms")
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            store.append([NewEvent("t", {"k": index})])
        except Exception as exc:
            errors.append(exc)

    _in_threads(4, work)
    assert len(errors) == 4
    assert store.head() == 1


# Batches that reach the writer without validation (validation refuses each of them first): the driver cannot
# bind their values.
UNVALIDATED_POISON: list[tuple[str, list[PreparedEvent], Condition | None]] = [
    ("lone-surrogate-type", [PreparedEvent("\ud800", {}, "{}")], None),
    ("lone-surrogate-payload-text", [PreparedEvent("t", {"k": "x"}, '{"k":"\udfff"}')], None),
]


def test_a_batch_sqlite_refuses_fails_only_its_own_caller(store: SQLiteStore) -> None:
    sizes: list[int] = []
    inner = store._committer._commit

    def recording(group: list[_Batch]) -> list[Outcome]:
        sizes.append(len(group))
        return inner(group)

    store._committer._commit = recording
    outcomes: dict[str, AppendResult | Exception] = {}

    def append(name: str, events: list[PreparedEvent], condition: Condition | None) -> None:
        try:
            outcomes[name] = store._append(events, condition)
        except Exception as exc:
            outcomes[name] = exc

    good = [(f"good{i}", check_events([NewEvent("good", {"i": i})], 1024), None) for i in range(6)]
    with store._write_lock:
        # The leader waits for the writer while the others queue up behind it.
        leader = threading.Thread(target=append, args=("leader", check_events([NewEvent("good", {})], 1024), None))
        leader.start()
        while not sizes:
            time.sleep(0.001)
        followers = [threading.Thread(target=append, args=args) for args in good[:3] + UNVALIDATED_POISON + good[3:]]
        for thread in followers:
            thread.start()
        time.sleep(0.3)
    for thread in [leader, *followers]:
        thread.join()

    assert sizes[:2] == [1, 6 + len(UNVALIDATED_POISON)]
    for name, _, _ in UNVALIDATED_POISON:
        outcome = outcomes.pop(name)
        assert isinstance(outcome, InvalidInput), (name, outcome)
    assert all(isinstance(outcome, AppendResult) for outcome in outcomes.values()), outcomes
    records = store.query(EventQuery()).event_records
    assert [record.event_type for record in records] == ["good"] * 7
    assert [record.sequence_number for record in records] == list(range(1, 8))


def test_a_busy_database_fails_the_group_without_retrying_each_batch(store: SQLiteStore) -> None:
    sizes: list[int] = []
    inner = store._committer._commit

    def recording(group: list[_Batch]) -> list[Outcome]:
        sizes.append(len(group))
        return inner(group)

    store._committer._commit = recording
    store._writer.execute("PRAGMA busy_timeout = 0")
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the file's write lock
    try:
        try:
            store.append([NewEvent("t", {})])
        except BackendError as error:
            assert "locked" in str(error)
        else:
            raise AssertionError("expected the busy database to fail the append")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert sizes == [1]
    assert store.append([NewEvent("t", {})]).first_sequence_number == 1


def test_one_group_with_an_idempotency_key_twice_commits_its_batch_once(store: SQLiteStore) -> None:
    # Batches of one transaction, in order: the second sees the key the first stored in the same transaction,
    # and the key wins over its condition (which the first batch's event now breaks).
    paid = check_events([NewEvent("paid", {"order": 1})], 1 << 20)
    other = check_events([NewEvent("paid", {"order": 2})], 1 << 20)
    key = check_idempotency_key("order-1", paid)
    paid_context = Condition(check_query(EventQuery(filters=[EventFilter(event_types=["paid"])])).filters, None)

    def batch(events: list[PreparedEvent], condition: Condition | None, idempotency: Idempotency | None) -> _Batch:
        return _Batch(events, [payload_document(e.payload) for e in events], condition, None, idempotency)

    outcomes = store._commit_group(
        [
            batch(paid, None, key),
            batch(paid, paid_context, key),
            batch(other, None, check_idempotency_key("order-1", other)),
            batch(other, None, None),
        ]
    )
    assert outcomes[0] == outcomes[1] == AppendResult(1, 1, 1)
    assert isinstance(outcomes[2], InvalidInput)
    assert outcomes[3] == AppendResult(2, 2, 1)
    assert [record.payload for record in store.query(EventQuery()).event_records] == [{"order": 1}, {"order": 2}]
