"""append_if on PostgreSQL: conditions are evaluated before the head lock, and under it only what was committed
since is checked; a version a query just found is not evaluated again."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
from psycopg import sql

from factstr import AppendResult, ConditionalAppendConflict, EventFilter, EventQuery, NewEvent
from factstr._store import Condition
from factstr._validation import check_events, check_query
from factstr.postgres import PostgresStore, _prepared
from factstr.postgres._store import _group_parameters
from factstr.testing._postgres_backend import server_url

from .conftest import OpenStore

SEAT = EventQuery(filters=[EventFilter(event_types=["claimed"], payload_predicates=[{"seat": 7}])])


def claim(seat: int, by: str) -> NewEvent:
    return NewEvent("claimed", {"seat": seat, "by": by})


def lock_head(conn: psycopg.Connection[Any], schema: str) -> None:
    """Take the head row in ``conn``'s open transaction, as a writer in another process would."""
    conn.execute(sql.SQL("SELECT seq FROM {}.head FOR UPDATE").format(sql.Identifier(schema)))


def waiting_for_a_lock(schema: str) -> bool:
    with psycopg.connect(server_url(), autocommit=True) as probe:
        row = probe.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            [f"%{schema}%append_batches%"],
        ).fetchone()
    return row is not None and row[0] > 0


def test_a_condition_that_already_failed_does_not_wait_for_the_head_lock(open_store: OpenStore, schema: str) -> None:
    store = open_store(statement_timeout=5)
    store.append([claim(7, "first")])
    with psycopg.connect(server_url()) as writer:
        lock_head(writer, schema)  # a writer elsewhere holds the lock, for longer than the statement timeout
        started = time.monotonic()
        with pytest.raises(ConditionalAppendConflict) as conflict:
            store.append_if([claim(7, "second")], SEAT, None)
        assert time.monotonic() - started < 4  # answered before the statement timeout, without the lock
        writer.rollback()
    assert (conflict.value.expected, conflict.value.actual) == (None, 1)


def test_a_commit_made_while_an_append_if_waits_for_the_lock_is_checked_under_it(
    store: PostgresStore, schema: str
) -> None:
    outcome: list[AppendResult | Exception] = []

    def append_if() -> None:
        try:
            outcome.append(store.append_if([claim(7, "waiter")], SEAT, None))
        except Exception as exc:
            outcome.append(exc)

    with psycopg.connect(server_url()) as writer:
        lock_head(writer, schema)
        waiter = threading.Thread(target=append_if)
        waiter.start()  # its condition holds now (no claim yet); then it waits for the lock
        deadline = time.monotonic() + 10
        while not waiting_for_a_lock(schema):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # The lock holder claims the seat through the store's own append, in the transaction holding the lock.
        batch = store._batch(check_events([claim(7, "holder")], 1 << 20), None, None, None)
        _prepared.run(writer, store._statements.append_batches, _group_parameters([batch]))
        writer.commit()
    waiter.join()
    (conflict,) = outcome
    assert isinstance(conflict, ConditionalAppendConflict), conflict
    assert (conflict.expected, conflict.actual) == (None, 1)
    assert [record.payload["by"] for record in store.query(EventQuery()).event_records] == ["holder"]


def test_a_version_a_query_found_is_checked_only_above_that_querys_head(store: PostgresStore) -> None:
    store.append([claim(7, "a"), claim(8, "b")])
    assert store.query(SEAT).current_context_version == 1
    filters = check_query(SEAT).filters
    remembered = store._batch(check_events([claim(7, "c")], 1 << 20), Condition(filters, 1), None, None)
    assert remembered.seen_head == 2  # the head of the query's snapshot
    assert store._batch(remembered.events, Condition(filters, None), None, None).seen_head is None  # another version
    store.append([claim(9, "d")])  # after the query, not in the context
    assert store.append_if([claim(7, "c")], SEAT, 1).first_sequence_number == 4
    # The query's version is stale now; an append_if expecting it is still checked above the query's head.
    with pytest.raises(ConditionalAppendConflict) as conflict:
        store.append_if([claim(7, "e")], SEAT, 1)
    assert (conflict.value.expected, conflict.value.actual) == (1, 4)
    assert store.head() == 4
