"""Query-model states in the SQLite file of the event store, through a connection of their own."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .._errors import BackendError, StoreClosed
from ._state import StateStore, StoredState

BUSY_TIMEOUT_SECONDS = 30.0

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS factstr_query_models (
    name TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    state_json TEXT NOT NULL,
    cursor INTEGER NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)
"""

SELECT_ONE = "SELECT name, fingerprint, state_json, cursor FROM factstr_query_models WHERE name = ?"
SELECT_ALL = "SELECT name, fingerprint, state_json, cursor FROM factstr_query_models ORDER BY name"

# Compare-and-set: a first write inserts only if no row exists; a later one updates only the row whose
# cursor is still the expected one. BEGIN IMMEDIATE around it takes SQLite's write lock before reading, so
# no other writer (of events or of states) can slip in between the check and the write.
INSERT_FIRST = """
INSERT INTO factstr_query_models (name, fingerprint, state_json, cursor) VALUES (?, ?, ?, ?)
ON CONFLICT (name) DO NOTHING
"""
UPDATE_NEXT = """
UPDATE factstr_query_models
SET fingerprint = ?, state_json = ?, cursor = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE name = ? AND cursor = ?
"""
DELETE_ONE = "DELETE FROM factstr_query_models WHERE name = ?"


class SQLiteStateStore(StateStore):
    """States in the table ``factstr_query_models`` of an SQLite file (the event store's own file)."""

    __module__ = "factstr.projections"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._closed = False
        try:
            # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE), never opened behind our back.
            self._connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise BackendError(f"cannot open {self.path} for query-model states: {exc}") from exc
        try:
            with self._write() as connection:
                connection.execute(CREATE_TABLE)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"<factstr.projections.SQLiteStateStore {str(self.path)!r}>"

    def load(self, name: str) -> StoredState | None:
        with self._read() as connection:
            row = connection.execute(SELECT_ONE, (name,)).fetchone()
        return None if row is None else _stored(row)

    def commit(self, state: StoredState, expected_cursor: int) -> bool:
        text = state.state_json.decode()
        with self._write() as connection:
            if expected_cursor == 0:
                changed = connection.execute(INSERT_FIRST, (state.name, state.fingerprint, text, state.cursor)).rowcount
            else:
                changed = connection.execute(
                    UPDATE_NEXT, (state.fingerprint, text, state.cursor, state.name, expected_cursor)
                ).rowcount
        return changed == 1

    def delete(self, name: str) -> None:
        with self._write() as connection:
            connection.execute(DELETE_ONE, (name,))

    def list_states(self) -> list[StoredState]:
        with self._read() as connection:
            rows = connection.execute(SELECT_ALL).fetchall()
        return [_stored(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._connection.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise StoreClosed("the query-model state store is closed")
            try:
                yield self._connection
            except sqlite3.Error as exc:
                raise BackendError(f"query-model states in {self.path}: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._read() as connection:
            try:
                connection.execute("BEGIN IMMEDIATE")
                yield connection
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")


def _stored(row: tuple[str, str, str, int]) -> StoredState:
    name, fingerprint, state_json, cursor = row
    return StoredState(name, fingerprint, state_json.encode(), cursor)
