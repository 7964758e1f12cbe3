"""Connections killed with pg_terminate_backend: streams resume exactly, appends never commit twice."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from factstr import AppendOutcomeUnknown, EventQuery, EventRecord, NewEvent
from factstr.postgres import PostgresStore, _prepared

Admin = psycopg.Connection[Any]


WAITING_FOR_A_LOCK = """
SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'
"""


def terminate(admin: Admin, application_name: str) -> int:
    """Kill every server process of one store; return how many there were."""
    rows = admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        [application_name],
    ).fetchall()
    return len(rows)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


class Collector:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self._lock = threading.Lock()

    def __call__(self, batch: list[EventRecord]) -> None:
        with self._lock:
            self.batches.append([record.sequence_number for record in batch])


def test_live_stream_resumes_without_gap_or_duplicate_when_its_listener_is_killed(url: str, admin: Admin) -> None:
    reader = PostgresStore(url + "&application_name=factstr_fault_listener", poll_interval=60.0)
    writer = PostgresStore(url)
    collector = Collector()
    try:
        with reader.stream_all(collector) as stream:
            wait_for(lambda: reader._listener is not None)
            listener = reader._listener
            assert listener is not None
            wait_for(listener.connected.is_set)
            writer.append([NewEvent("t", 1), NewEvent("t", 2)])
            assert stream.wait_until(2, timeout=10)
            killed_pid = listener.backend_pid
            admin.execute("SELECT pg_terminate_backend(%s)", [killed_pid])
            writer.append([NewEvent("t", 3)])  # while the listener is away
            wait_for(lambda: listener.connected.is_set() and listener.backend_pid != killed_pid)
            writer.append([NewEvent("t", 4), NewEvent("t", 5)])
            assert stream.wait_until(5, timeout=10)
        assert collector.batches == [[1, 2], [3], [4, 5]]
    finally:
        reader.close()
        writer.close()


def test_stream_resumes_without_gap_or_duplicate_when_every_connection_is_killed(url: str, admin: Admin) -> None:
    name = f"factstr_fault_{uuid.uuid4().hex[:12]}"
    reader = PostgresStore(url + "&application_name=" + name, poll_interval=0.2)
    writer = PostgresStore(url)
    collector = Collector()
    try:
        with reader.stream_all_durable("projection", collector) as stream:
            for round_number in range(5):
                first = writer.append([NewEvent("t", round_number), NewEvent("t", round_number)])
                if round_number % 2:
                    # Kill right after the reader caught up, or while it may still be reading.
                    assert stream.wait_until(first.last_sequence_number, timeout=20)
                killed = terminate(admin, name)
                assert round_number > 0 or killed >= 1
                writer.append([NewEvent("t", round_number)])
            assert stream.wait_until(15, timeout=20)
        numbers = [number for batch in collector.batches for number in batch]
        assert numbers == list(range(1, 16))
        assert [len(batch) for batch in collector.batches] == [2, 1] * 5
    finally:
        reader.close()
        writer.close()


def test_an_append_whose_connection_dies_mid_commit_raises_append_outcome_unknown(
    url: str, schema: str, admin: Admin
) -> None:
    name = f"factstr_fault_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(url + "&application_name=" + name)
    calls = 0
    inner = store._committer._commit

    def counting(group: Any) -> Any:
        nonlocal calls
        calls += 1
        return inner(group)

    store._committer._commit = counting
    outcome: list[BaseException | object] = []
    try:
        store.append([NewEvent("before", 1)])
        with psycopg.connect(url.partition("?")[0], autocommit=True) as blocker:
            # Hold the head row, so the append waits inside its transaction, after it was sent.
            blocker.execute("BEGIN")
            blocker.execute(sql.SQL("SELECT seq FROM {}.head FOR UPDATE").format(sql.Identifier(schema)))

            def append() -> None:
                try:
                    outcome.append(store.append([NewEvent("lost", 1)]))
                except BaseException as exc:
                    outcome.append(exc)

            thread = threading.Thread(target=append)
            thread.start()
            wait_for(lambda: admin.execute(WAITING_FOR_A_LOCK, [name]).fetchone() == (1,))
            terminate(admin, name)
            thread.join(timeout=10)
            blocker.execute("ROLLBACK")
        assert len(outcome) == 1 and isinstance(outcome[0], AppendOutcomeUnknown)
        assert isinstance(outcome[0].__cause__, psycopg.Error)
        assert calls == 2, "the append was retried"
        # Nothing committed it behind the caller's back, and the store goes on with the next number.
        assert [record.event_type for record in store.query(EventQuery()).event_records] == ["before"]
        assert store.append([NewEvent("after", 1)]).first_sequence_number == 2
    finally:
        store.close()


def test_an_append_on_a_connection_killed_while_idle_just_works(url: str, admin: Admin) -> None:
    name = f"factstr_fault_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(url + "&application_name=" + name)
    try:
        store.append([NewEvent("t", 1)])
        assert terminate(admin, name) >= 1
        time.sleep(0.1)
        assert store.append([NewEvent("t", 2)]).first_sequence_number == 2
    finally:
        store.close()


def test_durable_holds_work_again_after_the_hold_session_dies(url: str, admin: Admin) -> None:
    name = f"factstr_fault_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(url + "&application_name=" + name)
    try:
        with store.stream_all_durable("d", lambda batch: None):
            pass
        terminate(admin, name)
        time.sleep(0.1)
        store.reset_durable_stream("d", 0)
        info = store.durable_stream("d")
        assert info is not None and not info.active
    finally:
        store.close()


def test_an_idempotent_retry_after_a_connection_killed_while_waiting_to_commit_commits_once(
    url: str, schema: str, admin: Admin
) -> None:
    """C9.4: the first attempt died before it committed; the retry with the same key commits the batch once."""
    name = f"factstr_fault_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(url + "&application_name=" + name)
    outcome: list[BaseException | object] = []
    try:
        store.append([NewEvent("before", 1)])
        with psycopg.connect(url.partition("?")[0], autocommit=True) as blocker:
            blocker.execute("BEGIN")
            blocker.execute(sql.SQL("SELECT seq FROM {}.head FOR UPDATE").format(sql.Identifier(schema)))

            def append() -> None:
                try:
                    outcome.append(store.append([NewEvent("paid", 17)], idempotency_key="order-17"))
                except BaseException as exc:
                    outcome.append(exc)

            thread = threading.Thread(target=append)
            thread.start()
            wait_for(lambda: admin.execute(WAITING_FOR_A_LOCK, [name]).fetchone() == (1,))
            terminate(admin, name)
            thread.join(timeout=10)
            blocker.execute("ROLLBACK")
        assert len(outcome) == 1 and isinstance(outcome[0], AppendOutcomeUnknown)
        retried = store.append([NewEvent("paid", 17)], idempotency_key="order-17")
        assert retried.first_sequence_number == 2
        assert store.append([NewEvent("paid", 17)], idempotency_key="order-17") == retried
        assert [record.event_type for record in store.query(EventQuery()).event_records] == ["before", "paid"]
    finally:
        store.close()


def test_an_idempotent_retry_after_a_connection_killed_once_the_commit_was_done_returns_the_original_result(
    url: str, admin: Admin, monkeypatch: Any
) -> None:
    """C9.4: the batch committed but the session was killed before its answer was read (the caller saw
    AppendOutcomeUnknown); the retry with the same key returns the same numbers and writes nothing."""
    name = f"factstr_fault_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(url + "&application_name=" + name)
    real_run = _prepared.run
    killed: list[int] = []

    def run_then_lose_the_answer(conn: Any, statement: Any, params: Any, **options: Any) -> Any:
        result = real_run(conn, statement, params, **options)
        if statement is store._statements.append_batches and not killed:
            killed.append(terminate(admin, name))
            conn.execute("SELECT 1")  # the dead session shows now, as it would have instead of the answer
        return result

    try:
        store.append([NewEvent("before", 1)])
        monkeypatch.setattr(_prepared, "run", run_then_lose_the_answer)
        try:
            store.append([NewEvent("paid", 17), NewEvent("shipped", 17)], idempotency_key="order-17")
        except AppendOutcomeUnknown:
            pass
        else:
            raise AssertionError("the lost answer was not reported as AppendOutcomeUnknown")
        assert killed and killed[0] >= 1
        assert store.head() == 3, "the first attempt did commit"
        retried = store.append([NewEvent("paid", 17), NewEvent("shipped", 17)], idempotency_key="order-17")
        assert (retried.first_sequence_number, retried.last_sequence_number, retried.committed_count) == (2, 3, 2)
        records = store.query(EventQuery()).event_records
        assert [record.event_type for record in records] == ["before", "paid", "shipped"]
    finally:
        store.close()
