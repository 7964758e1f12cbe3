"""Group commit: concurrent appends share one round trip, and each keeps its own condition and outcome."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from psycopg import sql

from factstr import AppendResult, ConditionalAppendConflict, EventFilter, EventQuery, NewEvent
from factstr._store import Condition
from factstr._validation import check_events
from factstr.postgres import PostgresStore
from factstr.postgres._group import GroupCommitter, Outcome, PendingAppend
from factstr.testing._postgres_backend import server_url


def prepared(value: int) -> Any:
    return check_events([NewEvent("t", value)], 1024)


def test_appends_queued_behind_a_commit_in_flight_go_together() -> None:
    release = threading.Event()
    groups: list[list[int]] = []

    def commit(group: list[PendingAppend]) -> list[Outcome]:
        groups.append([pending.events[0].payload for pending in group])
        if len(groups) == 1:
            release.wait(5)
        return [AppendResult(index, index, 1) for index, _ in enumerate(group, start=1)]

    committer = GroupCommitter(commit)
    results: dict[int, AppendResult] = {}

    def append(value: int) -> None:
        results[value] = committer.append(prepared(value), None)

    first = threading.Thread(target=append, args=(0,))
    first.start()
    while not groups:
        time.sleep(0.001)
    others = [threading.Thread(target=append, args=(value,)) for value in range(1, 6)]
    for thread in others:
        thread.start()
    time.sleep(0.2)  # let every other appender queue up behind the first commit
    release.set()
    for thread in [first, *others]:
        thread.join()
    assert groups[0] == [0]
    assert sorted(groups[1]) == [1, 2, 3, 4, 5]
    assert len(results) == 6


def test_each_appender_gets_its_own_outcome_or_error() -> None:
    def commit(group: list[PendingAppend]) -> list[Outcome]:
        return [ConditionalAppendConflict(None, 7) if pending.condition else AppendResult(1, 1, 1) for pending in group]

    committer = GroupCommitter(commit)
    assert committer.append(prepared(1), None) == AppendResult(1, 1, 1)
    try:
        committer.append(prepared(2), Condition(None, None))
    except ConditionalAppendConflict as conflict:
        assert conflict.actual == 7
    else:
        raise AssertionError("expected a conflict")


def test_a_group_in_the_store_commits_each_batch_under_its_own_condition(store: PostgresStore, schema: str) -> None:
    sizes: list[int] = []
    inner = store._committer._commit

    def recording(group: list[PendingAppend]) -> list[Outcome]:
        sizes.append(len(group))
        return inner(group)

    store._committer._commit = recording
    context = EventQuery(filters=[EventFilter(event_types=["claim"])])
    outcomes: dict[str, AppendResult | ConditionalAppendConflict] = {}

    def append_if(name: str) -> None:
        try:
            outcomes[name] = store.append_if([NewEvent("claim", {"by": name})], context, None)
        except ConditionalAppendConflict as conflict:
            outcomes[name] = conflict

    def append(name: str) -> None:
        outcomes[name] = store.append([NewEvent("other", {"by": name}), NewEvent("other", {"by": name})])

    with psycopg.connect(server_url(), autocommit=True) as blocker:
        # Hold the head row so that one commit is in flight while the others queue up behind it.
        blocker.execute("BEGIN")
        blocker.execute(sql.SQL("SELECT seq FROM {}.head FOR UPDATE").format(sql.Identifier(schema)))
        leader = threading.Thread(target=append, args=("leader",))
        leader.start()
        while not sizes:
            time.sleep(0.001)
        followers = [threading.Thread(target=append_if, args=(f"racer{i}",)) for i in range(4)]
        followers += [threading.Thread(target=append, args=(f"plain{i}",)) for i in range(2)]
        for thread in followers:
            thread.start()
        time.sleep(0.3)
        blocker.execute("ROLLBACK")
    for thread in [leader, *followers]:
        thread.join()

    assert sizes == [1, 6]
    winners = [name for name, outcome in outcomes.items() if isinstance(outcome, AppendResult) and "racer" in name]
    conflicts = [outcome for outcome in outcomes.values() if isinstance(outcome, ConditionalAppendConflict)]
    assert len(winners) == 1 and len(conflicts) == 3
    winner = outcomes[winners[0]]
    assert isinstance(winner, AppendResult)
    assert all(conflict.expected is None and conflict.actual == winner.first_sequence_number for conflict in conflicts)
    records = store.query(EventQuery()).event_records
    assert [record.sequence_number for record in records] == list(range(1, 8))
    for outcome in outcomes.values():
        if isinstance(outcome, AppendResult):
            numbers = range(outcome.first_sequence_number, outcome.last_sequence_number + 1)
            assert {records[number - 1].payload["by"] for number in numbers} == {
                name for name, other in outcomes.items() if other is outcome
            }
