"""Hand-offs between the writers of several processes: the holder of the writers' lock commits the appends other
writers offered while they waited, and each offering writer gets exactly its own outcome.

Two store objects on one file stand for two processes here: each has its own descriptor of the writers' lock, and
``flock`` locks of different descriptors exclude each other as those of two processes do. The holder's side is
driven by hand (take the lock, commit, or die before committing) so that each case happens for certain.
Processes proper: tests/sqlite/test_processes.py and the crash tests.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from factstr import (
    AppendOutcomeUnknown,
    AppendResult,
    ConditionalAppendConflict,
    EventFilter,
    EventQuery,
    NewEvent,
)
from factstr._validation import check_events
from factstr.sqlite import SQLiteStore
from factstr.sqlite import _handoff as handoff_module
from factstr.sqlite._handoff import HandOff, Offered
from factstr.sqlite._store import _Batch
from factstr.sqlite._terms import payload_document


@pytest.fixture
def holder(database: str) -> Iterator[SQLiteStore]:
    with SQLiteStore(database) as opened:
        yield opened


@pytest.fixture
def waiter(database: str, holder: SQLiteStore) -> Iterator[SQLiteStore]:
    with SQLiteStore(database, busy_timeout=10.0) as opened:
        yield opened


def _handoff_directory(store: SQLiteStore) -> str:
    return os.path.join(store.path + ".locks", "handoff")


def _offers(store: SQLiteStore, suffix: str) -> list[str]:
    return [name for name in os.listdir(_handoff_directory(store)) if name.endswith(suffix)]


def _wait_for(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _batch(*events: NewEvent) -> _Batch:
    prepared = check_events(list(events), max_payload_bytes=1 << 20)
    return _Batch(prepared, [payload_document(event.payload) for event in prepared], None, None, None)


def _receipts(store: SQLiteStore) -> int:
    count: int = store._writer.execute("SELECT count(*) FROM handoffs").fetchone()[0]
    return count


def _in_background(work: Callable[[], AppendResult]) -> Future[AppendResult]:
    executor = ThreadPoolExecutor(1)
    future = executor.submit(work)
    executor.shutdown(wait=False)
    return future


def test_the_holder_commits_an_offered_append_and_the_offering_writer_gets_its_numbers(
    holder: SQLiteStore, waiter: SQLiteStore
) -> None:
    assert holder._writers_lock.acquire(5)  # holder is writing (in another process, as far as waiter knows)
    offered = _in_background(lambda: waiter.append([NewEvent("paid", {"order": 1}), NewEvent("paid", {"order": 2})]))
    _wait_for(lambda: len(_offers(holder, ".offer")) == 1)
    # The holder's own commit takes the offer: one transaction, one sync, both appends.
    outcomes = holder._commit_locked([_batch(NewEvent("shipped", {"order": 0}))])
    assert outcomes == [AppendResult(1, 1, 1)]
    assert _offers(holder, ".taken") and _receipts(holder) == 1
    holder._writers_lock.release()
    assert offered.result(timeout=10) == AppendResult(2, 3, 2)
    records = holder.query(EventQuery()).event_records
    assert [(r.event_type, r.payload) for r in records] == [
        ("shipped", {"order": 0}),
        ("paid", {"order": 1}),
        ("paid", {"order": 2}),
    ]
    assert records[1].occurred_at == records[0].occurred_at  # one commit
    assert os.listdir(_handoff_directory(holder)) == []
    # The next commit that takes an offer deletes the receipts whose writers have read them.
    assert holder._writers_lock.acquire(5)
    later = _in_background(lambda: waiter.append([NewEvent("paid", {"order": 3})]))
    _wait_for(lambda: len(_offers(holder, ".offer")) == 1)
    holder._commit_locked([_batch(NewEvent("shipped", {"order": 1}))])
    holder._writers_lock.release()
    assert later.result(timeout=10) == AppendResult(5, 5, 1)
    assert _receipts(holder) == 1  # only the receipt of the last offer, until the next one


def test_an_offered_append_whose_condition_fails_gets_its_own_conflict_with_the_facts(
    holder: SQLiteStore, waiter: SQLiteStore
) -> None:
    context = EventQuery(filters=[EventFilter(event_types=["paid"], payload_predicates=[{"order": 7}])])
    holder.append([NewEvent("paid", {"order": 7})])
    assert holder._writers_lock.acquire(5)

    def decide() -> AppendResult:
        return waiter.append_if([NewEvent("paid", {"order": 7, "again": True})], context, None)

    offered = _in_background(decide)
    _wait_for(lambda: len(_offers(holder, ".offer")) == 1)
    holder._commit_locked([_batch(NewEvent("shipped", {"order": 7}))])
    holder._writers_lock.release()
    with pytest.raises(ConditionalAppendConflict) as conflict:
        offered.result(timeout=10)
    assert (conflict.value.expected, conflict.value.actual) == (None, 1)
    assert [fact.payload for fact in conflict.value.facts] == [{"order": 7}]
    assert holder.head() == 2  # the conflict consumed no number


def test_an_offered_append_whose_condition_holds_is_checked_against_the_holders_appends(
    holder: SQLiteStore, waiter: SQLiteStore
) -> None:
    context = EventQuery(filters=[EventFilter(event_types=["paid"], payload_predicates=[{"order": 8}])])
    assert holder._writers_lock.acquire(5)
    offered = _in_background(lambda: waiter.append_if([NewEvent("paid", {"order": 8})], context, None))
    _wait_for(lambda: len(_offers(holder, ".offer")) == 1)
    # The holder's own append, earlier in the same transaction, enters the offered append's context.
    holder._commit_locked([_batch(NewEvent("paid", {"order": 8, "first": True}))])
    holder._writers_lock.release()
    with pytest.raises(ConditionalAppendConflict) as conflict:
        offered.result(timeout=10)
    assert conflict.value.actual == 1
    assert holder.head() == 1


def test_an_offer_taken_by_a_holder_that_dies_before_its_commit_is_committed_once_by_its_writer(
    holder: SQLiteStore, waiter: SQLiteStore
) -> None:
    assert holder._writers_lock.acquire(5)
    offered = _in_background(lambda: waiter.append([NewEvent("paid", {"order": 9})]))
    _wait_for(lambda: len(_offers(holder, ".offer")) == 1)
    # The holder takes the offer and writes it, then dies: its transaction never commits.
    connection = holder._writer
    connection.execute("BEGIN IMMEDIATE")
    head = holder._write_taken(connection, 0, 0)
    assert head == 1 and not _offers(holder, ".offer")
    connection.execute("ROLLBACK")
    holder._writers_lock.release()
    assert offered.result(timeout=10) == AppendResult(1, 1, 1)
    assert [r.payload for r in holder.query(EventQuery()).event_records] == [{"order": 9}]


def test_an_offer_committed_by_a_holder_that_dies_before_releasing_the_lock_is_not_committed_again(
    database: str, waiter: SQLiteStore
) -> None:
    dying = SQLiteStore(database)
    assert dying._writers_lock.acquire(5)
    offered = _in_background(lambda: waiter.append([NewEvent("paid", {"order": 10})]))
    _wait_for(lambda: len(_offers(waiter, ".offer")) == 1)
    dying._commit_locked([_batch(NewEvent("shipped", {"order": 10}))])
    # Death: the descriptor closes without a release, and nothing of the holder runs any more.
    os.close(dying._writers_lock._descriptor)
    assert offered.result(timeout=10) == AppendResult(2, 2, 1)
    assert waiter.head() == 2
    dying._writer.close()


def test_a_writer_that_times_out_after_its_offer_was_committed_gets_its_result(
    database: str, holder: SQLiteStore
) -> None:
    with SQLiteStore(database, busy_timeout=0.5) as impatient:
        assert holder._writers_lock.acquire(5)
        try:
            offered = _in_background(lambda: impatient.append([NewEvent("paid", {"order": 11})]))
            _wait_for(lambda: len(_offers(holder, ".offer")) == 1)
            holder._commit_locked([_batch(NewEvent("shipped", {"order": 11}))])
            # The holder keeps the lock past the writer's busy_timeout: the receipt still answers.
            assert offered.result(timeout=10) == AppendResult(2, 2, 1)
        finally:
            holder._writers_lock.release()


def test_a_writer_that_times_out_while_its_offer_is_being_committed_gets_an_unknown_outcome(
    database: str, holder: SQLiteStore
) -> None:
    with SQLiteStore(database, busy_timeout=0.5) as impatient:
        assert holder._writers_lock.acquire(5)
        connection = holder._writer
        try:
            offered = _in_background(lambda: impatient.append([NewEvent("paid", {"order": 12})]))
            _wait_for(lambda: len(_offers(holder, ".offer")) == 1)
            connection.execute("BEGIN IMMEDIATE")
            holder._write_taken(connection, 0, 0)
            with pytest.raises(AppendOutcomeUnknown):
                offered.result(timeout=10)
            connection.execute("COMMIT")
        finally:
            holder._writers_lock.release()
        assert holder.head() == 1


def test_a_writer_that_times_out_with_its_offer_untaken_commits_nothing(database: str, holder: SQLiteStore) -> None:
    with SQLiteStore(database, busy_timeout=0.3) as impatient:
        assert holder._writers_lock.acquire(5)
        try:
            with pytest.raises(Exception, match="database is locked"):
                impatient.append([NewEvent("paid", {"order": 13})])
        finally:
            holder._writers_lock.release()
        assert _offers(holder, ".offer") == []
        holder._commit_locked([_batch(NewEvent("shipped", {"order": 13}))])
        assert [r.payload for r in holder.query(EventQuery()).event_records] == [{"order": 13}]


def test_the_offer_of_a_dead_writer_is_deleted_not_committed(holder: SQLiteStore) -> None:
    directory = _handoff_directory(holder)
    dead = HandOff(directory)
    dead._prefix = f"{2**22 + 12345}-dead-"  # above the largest pid Linux hands out
    dead.offer([Offered([("paid", '{"order":14}')], ["abc"], False, None, None)])
    assert holder._commit_locked([_batch(NewEvent("shipped", {"order": 14}))]) == [AppendResult(1, 1, 1)]
    assert holder.head() == 1
    assert os.listdir(directory) == []


def test_an_offer_of_appends_from_many_threads_is_committed_each_once(holder: SQLiteStore, waiter: SQLiteStore) -> None:
    assert holder._writers_lock.acquire(5)
    futures: list[Future[AppendResult]] = []
    start = threading.Barrier(6)

    def append(index: int) -> AppendResult:
        start.wait()
        return waiter.append([NewEvent("paid", {"thread": index})])

    executor = ThreadPoolExecutor(6)
    futures = [executor.submit(append, index) for index in range(6)]
    _wait_for(lambda: len(_offers(holder, ".offer")) >= 1)
    time.sleep(0.05)
    holder._commit_locked([_batch(NewEvent("shipped", {}))])
    holder._writers_lock.release()
    results = sorted(future.result(timeout=10).first_sequence_number for future in futures)
    executor.shutdown()
    assert results == list(range(2, 8))
    payloads = [r.payload for r in holder.query(EventQuery(filters=[EventFilter(event_types=["paid"])])).event_records]
    assert sorted(payload["thread"] for payload in payloads) == list(range(6))


def test_a_holder_takes_at_most_its_limit_of_events_and_the_rest_commit_themselves(
    holder: SQLiteStore, waiter: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handoff_module, "TAKE_EVENTS_LIMIT", 1)
    other = SQLiteStore(holder.path, busy_timeout=10.0)
    try:
        assert holder._writers_lock.acquire(5)
        first = _in_background(lambda: waiter.append([NewEvent("paid", {"n": 1}), NewEvent("paid", {"n": 2})]))
        second = _in_background(lambda: other.append([NewEvent("paid", {"n": 3})]))
        _wait_for(lambda: len(_offers(holder, ".offer")) == 2)
        holder._commit_locked([_batch(NewEvent("shipped", {}))])
        assert len(_offers(holder, ".offer")) == 1  # the first one read exhausted the budget
        holder._writers_lock.release()
        results = {first.result(timeout=10), second.result(timeout=10)}
        assert sorted(result.committed_count for result in results) == [1, 2]
        assert holder.head() == 4
    finally:
        other.close()


def test_a_holder_that_does_not_sync_leaves_the_offers_to_their_writers(database: str, waiter: SQLiteStore) -> None:
    with SQLiteStore(database, durability="normal") as fast:
        assert fast._writers_lock.acquire(5)
        offered = _in_background(lambda: waiter.append([NewEvent("paid", {"order": 15})]))
        _wait_for(lambda: len(_offers(waiter, ".offer")) == 1)
        assert fast._commit_locked([_batch(NewEvent("shipped", {"order": 15}))]) == [AppendResult(1, 1, 1)]
        assert len(_offers(waiter, ".offer")) == 1  # not taken: the waiter asked for a synced commit
        fast._writers_lock.release()
        assert offered.result(timeout=10) == AppendResult(2, 2, 1)
