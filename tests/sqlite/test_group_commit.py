"""Appends from many threads of one process: shared transactions, separate outcomes."""

from __future__ import annotations

import itertools
import threading
from collections import Counter

from factstr import AppendResult, ConditionalAppendConflict, EventFilter, EventQuery, NewEvent
from factstr.sqlite import SQLiteStore


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
