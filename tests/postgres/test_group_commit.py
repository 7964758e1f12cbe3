"""Group commit in the PostgreSQL store: concurrent appends share one round trip, each keeps its own condition
and outcome, and a batch the server refuses fails only its own caller. (The committer itself: tests/unit.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from factstr import (
    AppendResult,
    BackendError,
    ConditionalAppendConflict,
    EventFilter,
    EventQuery,
    EventStoreError,
    InvalidInput,
    NewEvent,
)
from factstr._group import Outcome
from factstr._store import Condition
from factstr._validation import PreparedEvent, check_events, check_idempotency_key, check_query
from factstr.postgres import PostgresStore
from factstr.postgres._store import _Batch
from factstr.testing._postgres_backend import server_url


def recorded_groups(store: PostgresStore) -> list[int]:
    """Record the size of every group the store's committer commits."""
    sizes: list[int] = []
    inner = store._committer._commit

    def recording(group: list[_Batch]) -> list[Outcome]:
        sizes.append(len(group))
        return inner(group)

    store._committer._commit = recording
    return sizes


@contextmanager
def head_held(schema: str) -> Iterator[None]:
    """Hold the head row, so that one commit is in flight while the appends started meanwhile queue up."""
    with psycopg.connect(server_url(), autocommit=True) as blocker:
        blocker.execute("BEGIN")
        blocker.execute(sql.SQL("SELECT seq FROM {}.head FOR UPDATE").format(sql.Identifier(schema)))
        yield
        blocker.execute("ROLLBACK")


def test_a_group_in_the_store_commits_each_batch_under_its_own_condition(store: PostgresStore, schema: str) -> None:
    sizes = recorded_groups(store)
    context = EventQuery(filters=[EventFilter(event_types=["claim"])])
    outcomes: dict[str, AppendResult | ConditionalAppendConflict] = {}

    def append_if(name: str) -> None:
        try:
            outcomes[name] = store.append_if([NewEvent("claim", {"by": name})], context, None)
        except ConditionalAppendConflict as conflict:
            outcomes[name] = conflict

    def append(name: str) -> None:
        outcomes[name] = store.append([NewEvent("other", {"by": name}), NewEvent("other", {"by": name})])

    with head_held(schema):
        leader = threading.Thread(target=append, args=("leader",))
        leader.start()
        while not sizes:
            time.sleep(0.001)
        followers = [threading.Thread(target=append_if, args=(f"racer{i}",)) for i in range(4)]
        followers += [threading.Thread(target=append, args=(f"plain{i}",)) for i in range(2)]
        for thread in followers:
            thread.start()
        time.sleep(0.3)
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


# Batches that reach the server without validation (validation refuses each of them first): the server, or the
# driver, refuses the call that carries them.
UNVALIDATED_POISON: list[tuple[str, list[PreparedEvent], Condition | None]] = [
    # A type of 3,000 random CJK characters is above the btree row limit of the (event_type, seq) index.
    (
        "type-above-the-btree-row-limit",
        [PreparedEvent("".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(3000)), {}, "{}")],
        None,
    ),
    ("expected-version-beyond-bigint", [PreparedEvent("t", {}, "{}")], Condition(None, 2**63)),
    ("lone-surrogate-type", [PreparedEvent("\ud800", {}, "{}")], None),
]


def test_a_batch_the_server_refuses_fails_only_its_own_caller(store: PostgresStore, schema: str) -> None:
    sizes = recorded_groups(store)
    outcomes: dict[str, AppendResult | Exception] = {}

    def append(name: str, events: list[PreparedEvent], condition: Condition | None) -> None:
        try:
            outcomes[name] = store._append(events, condition)
        except Exception as exc:
            outcomes[name] = exc

    good = [(f"good{i}", check_events([NewEvent("good", {"i": i})], 1024), None) for i in range(6)]
    with head_held(schema):
        leader = threading.Thread(target=append, args=("leader", check_events([NewEvent("good", {})], 1024), None))
        leader.start()
        while not sizes:
            time.sleep(0.001)
        # Queued behind the leader's commit: one group of good batches and every poisoned one.
        followers = [threading.Thread(target=append, args=args) for args in good[:3] + UNVALIDATED_POISON + good[3:]]
        for thread in followers:
            thread.start()
        time.sleep(0.3)
    for thread in [leader, *followers]:
        thread.join()

    # A lone surrogate cannot even be hashed for the posting index: refused in its own thread, before it queues.
    queued = [name for name, _, _ in UNVALIDATED_POISON if name != "lone-surrogate-type"]
    assert sizes[:2] == [1, 6 + len(queued)]
    for name, _, _ in UNVALIDATED_POISON:
        outcome = outcomes.pop(name)
        assert isinstance(outcome, EventStoreError), (name, outcome)
    assert all(isinstance(outcome, AppendResult) for outcome in outcomes.values()), outcomes
    records = store.query(EventQuery()).event_records
    assert [record.event_type for record in records] == ["good"] * 7
    assert [record.sequence_number for record in records] == list(range(1, 8))


def test_a_refusal_is_a_backend_error_that_names_the_server(store: PostgresStore) -> None:
    ((_, events, condition),) = [poison for poison in UNVALIDATED_POISON if poison[0].startswith("type-above")]
    try:
        store._append(events, condition)
    except BackendError as error:
        assert "refused an append; nothing was committed" in str(error)
        assert isinstance(error.__cause__, psycopg.Error)
    else:
        raise AssertionError("expected the server to refuse the append")
    assert store.head() is None


def test_one_group_with_an_idempotency_key_twice_commits_its_batch_once(store: PostgresStore) -> None:
    # Batches of one round trip, in order: the second sees the key the first stored in the same transaction,
    # and the key wins over its condition (which the first batch's event now breaks).
    paid = check_events([NewEvent("paid", {"order": 1})], 1 << 20)
    other = check_events([NewEvent("paid", {"order": 2})], 1 << 20)
    key = check_idempotency_key("order-1", paid)
    paid_context = Condition(check_query(EventQuery(filters=[EventFilter(event_types=["paid"])])).filters, None)
    outcomes = store._commit_group(
        [
            store._batch(paid, None, None, key),
            store._batch(paid, paid_context, None, key),
            store._batch(other, None, None, check_idempotency_key("order-1", other)),
            store._batch(other, None, None, None),
        ]
    )
    assert outcomes[0] == outcomes[1] == AppendResult(1, 1, 1)
    assert isinstance(outcomes[2], InvalidInput)
    assert outcomes[3] == AppendResult(2, 2, 1)
    assert [record.payload for record in store.query(EventQuery()).event_records] == [{"order": 1}, {"order": 2}]
