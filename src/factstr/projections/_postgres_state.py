"""Query-model states in the PostgreSQL schema of the event store, through a connection of their own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from .._errors import BackendError, StoreClosed
from ._state import StateStore, StoredState

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    name text PRIMARY KEY,
    fingerprint text NOT NULL,
    state_json text NOT NULL,
    cursor bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""
# Concurrent CREATE TABLE IF NOT EXISTS can still collide in the catalog; a transaction-scoped advisory lock
# (an arbitrary constant key for "query-model schema") lets one creator at a time through.
LOCK_SCHEMA = "SELECT pg_advisory_xact_lock(7305896421188851)"

SELECT_ONE = "SELECT name, fingerprint, state_json, cursor FROM {table} WHERE name = %s"
SELECT_ALL = "SELECT name, fingerprint, state_json, cursor FROM {table} ORDER BY name"

# Compare-and-set in one statement each (one implicit transaction in autocommit mode): a first write inserts
# only if no row exists (a concurrent insert of the same name waits for the other and then does nothing); a
# later one updates only the row whose cursor is still the expected one (the row lock serialises writers).
INSERT_FIRST = """
INSERT INTO {table} (name, fingerprint, state_json, cursor) VALUES (%s, %s, %s, %s)
ON CONFLICT (name) DO NOTHING
"""
UPDATE_NEXT = """
UPDATE {table} SET fingerprint = %s, state_json = %s, cursor = %s, updated_at = now()
WHERE name = %s AND cursor = %s
"""
DELETE_ONE = "DELETE FROM {table} WHERE name = %s"


class PostgresStateStore(StateStore):
    """States in the table ``factstr_query_models`` of a PostgreSQL schema (the event store's own)."""

    __module__ = "factstr.projections"

    def __init__(self, conninfo: str, schema: str = "public") -> None:
        self.schema = schema
        self._conninfo = conninfo
        self._table = sql.Identifier(schema, "factstr_query_models")
        self._lock = threading.Lock()
        self._closed = False
        self._connection: psycopg.Connection[Any] | None = None
        try:
            with self._cursor() as cursor, cursor.connection.transaction():
                cursor.execute(LOCK_SCHEMA)
                cursor.execute(self._sql(CREATE_TABLE))
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"<factstr.projections.PostgresStateStore schema={self.schema!r}>"

    def load(self, name: str) -> StoredState | None:
        with self._cursor() as cursor:
            row = cursor.execute(self._sql(SELECT_ONE), (name,)).fetchone()
        return None if row is None else _stored(row)

    def commit(self, state: StoredState, expected_cursor: int) -> bool:
        text = state.state_json.decode()
        with self._cursor() as cursor:
            if expected_cursor == 0:
                cursor.execute(self._sql(INSERT_FIRST), (state.name, state.fingerprint, text, state.cursor))
            else:
                values = (state.fingerprint, text, state.cursor, state.name, expected_cursor)
                cursor.execute(self._sql(UPDATE_NEXT), values)
            return cursor.rowcount == 1

    def delete(self, name: str) -> None:
        with self._cursor() as cursor:
            cursor.execute(self._sql(DELETE_ONE), (name,))

    def list_states(self) -> list[StoredState]:
        with self._cursor() as cursor:
            rows = cursor.execute(self._sql(SELECT_ALL)).fetchall()
        return [_stored(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(table=self._table)

    @contextmanager
    def _cursor(self) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor on the one connection, opened (again) on demand; driver errors become BackendError."""
        with self._lock:
            if self._closed:
                raise StoreClosed("the query-model state store is closed")
            try:
                if self._connection is None or self._connection.broken:
                    self._connection = psycopg.connect(self._conninfo, autocommit=True)
                with self._connection.cursor() as cursor:
                    yield cursor
            except psycopg.Error as exc:
                if self._connection is not None and self._connection.broken:
                    self._connection.close()
                    self._connection = None
                raise BackendError(f"query-model states in schema {self.schema!r}: {exc}") from exc


def _stored(row: tuple[Any, ...]) -> StoredState:
    name, fingerprint, state_json, cursor = row
    return StoredState(name, fingerprint, state_json.encode(), cursor)
