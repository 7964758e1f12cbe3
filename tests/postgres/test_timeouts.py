"""Bounded statements (issue 11, item 5): every session has a statement timeout and no JIT, and a client that
goes away cancels its query."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql

from factstr import AppendOutcomeUnknown, BackendError, EventQuery, InvalidInput, NewEvent
from factstr.postgres import PostgresStore
from factstr.server import ServerThread, create_app
from factstr.testing._postgres_backend import server_url

from .conftest import OpenStore

Admin = psycopg.Connection[Any]

WAITING_FOR_A_LOCK = """
SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'
"""


def wait_for(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def settings(store: PostgresStore) -> tuple[str, str]:
    with store._pool.connection() as conn:
        row = conn.execute("SELECT current_setting('statement_timeout'), current_setting('jit')").fetchone()
    assert row is not None
    return row[0], row[1]


def test_every_session_has_the_default_statement_timeout_and_no_jit(store: PostgresStore) -> None:
    assert settings(store) == ("30s", "off")


@pytest.mark.parametrize(("keyword", "in_url", "shown"), [(0.5, None, "500ms"), (None, "2", "2s"), (0, "0", "0")])
def test_the_statement_timeout_is_set_by_keyword_or_url_parameter(
    url: str, open_store: OpenStore, keyword: float | None, in_url: str | None, shown: str
) -> None:
    chosen = url if in_url is None else f"{url}&statement_timeout={in_url}"
    store = PostgresStore(chosen, statement_timeout=keyword)
    try:
        assert settings(store) == (shown, "off")
    finally:
        store.close()


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), "soon", True, 10**9])
def test_a_bad_statement_timeout_is_invalid_input(url: str, value: object) -> None:
    with pytest.raises(InvalidInput, match="statement_timeout"):
        PostgresStore(url, statement_timeout=value)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="statement_timeout"):
        PostgresStore(f"{url}&statement_timeout={value}")


def test_keyword_and_url_parameter_must_agree(url: str) -> None:
    with pytest.raises(InvalidInput, match="disagrees"):
        PostgresStore(f"{url}&statement_timeout=1", statement_timeout=2)


@contextmanager
def locked(schema: str, table: str) -> Iterator[None]:
    """Hold an exclusive lock on one of the store's tables (on a connection of its own) during the block."""
    with psycopg.connect(server_url(), autocommit=True) as locker, locker.transaction():
        locker.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(schema, table)))
        yield


def test_a_query_over_the_statement_timeout_raises_backend_error_and_the_store_goes_on(
    open_store: OpenStore, schema: str
) -> None:
    store = open_store(statement_timeout=0.3)
    store.append([NewEvent("t", 1)])
    with locked(schema, "events"):  # the query waits for the lock until the timeout cancels it
        started = time.monotonic()
        with pytest.raises(BackendError, match=r"statement_timeout is 0\.3 s") as raised:
            store.query(EventQuery())
        assert time.monotonic() - started < 5
    assert isinstance(raised.value.__cause__, psycopg.errors.QueryCanceled)
    assert [record.payload for record in store.query(EventQuery()).event_records] == [1]


def test_an_append_over_the_statement_timeout_commits_nothing(open_store: OpenStore, schema: str) -> None:
    store = open_store(statement_timeout=0.3)
    with locked(schema, "head"), pytest.raises(BackendError, match="nothing was committed") as raised:
        store.append([NewEvent("t", 1)])
    assert not isinstance(raised.value, AppendOutcomeUnknown)
    assert store.head() is None
    assert store.append([NewEvent("t", 2)]).first_sequence_number == 1


def test_a_client_that_goes_away_cancels_its_query(url: str, schema: str, admin: Admin) -> None:
    name = f"factstr_cancel_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(f"{url}&application_name={name}", statement_timeout=60)
    server = ServerThread(create_app(store)).start()
    try:
        body = b"{}"
        request = (
            f"POST /query HTTP/1.1\r\nHost: {server.host}:{server.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        with locked(schema, "events"):
            client = socket.create_connection((server.host, server.port))
            client.sendall(request)
            wait_for(lambda: admin.execute(WAITING_FOR_A_LOCK, [name]).fetchone() == (1,))
            client.close()
            # The lock is still held: only a cancel ends the wait this soon (the timeout is a minute away).
            wait_for(lambda: admin.execute(WAITING_FOR_A_LOCK, [name]).fetchone() == (0,), timeout=5)
        # The cancelled connection was not handed to anyone else; the store serves the next request.
        assert store.query(EventQuery()).event_records == []
    finally:
        server.stop()
        store.close()
