"""Durable-name holds across processes: session-level advisory locks on one connection per store.

PostgreSQL releases a session's advisory locks when the session ends, however it ends, so the hold of a
process that dies is released by the server. A session may take the same advisory lock twice, so this store
also remembers its own holds: a second registration of a name inside the same store is refused here.
"""

from __future__ import annotations

import logging
import threading

import psycopg

from .._errors import DurableStreamActive
from ._connection import Connection, Target, check_alive, connect, translate_errors
from ._schema import advisory_key
from ._sql import RELEASE_HOLD, TRY_HOLD

logger = logging.getLogger("factstr")


class Holds:
    """The advisory locks one store holds, on one dedicated connection opened on first use."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._held: dict[str, int] = {}

    def acquire(self, name: str) -> PostgresHold:
        """Take the hold on ``name`` or raise DurableStreamActive if any session, anywhere, has it."""
        key = self.key(name)
        with self._lock:
            if name in self._held:
                raise DurableStreamActive(f"durable stream {name!r} is already active")
            with translate_errors(self._target, f"taking the hold on durable stream {name!r}"):
                conn = self._connection()
                row = conn.execute(TRY_HOLD, [key]).fetchone()
            if row is None or not row[0]:
                raise DurableStreamActive(f"durable stream {name!r} is already active in another process")
            self._held[name] = key
        return PostgresHold(self, name)

    def release(self, name: str) -> None:
        """Give the hold on ``name`` back (nothing happens if this store does not hold it)."""
        with self._lock:
            key = self._held.pop(name, None)
            if key is None or self._conn is None:
                return
            try:
                self._conn.execute(RELEASE_HOLD, [key])
            except psycopg.Error as exc:
                # The session is gone, and the server released its locks with it.
                logger.warning("could not release the hold on durable stream %r", name, exc_info=exc)
                self._drop_connection()

    def key(self, name: str) -> int:
        """Return the advisory key of ``name`` in this store's schema."""
        return advisory_key("hold", self._target.schema, name)

    def is_held_sql_params(self, name: str) -> list[int]:
        """Return the parameters of IS_HELD for ``name``: the key's high and low 32 bits."""
        key = self.key(name) & 0xFFFF_FFFF_FFFF_FFFF
        return [key >> 32, key & 0xFFFF_FFFF]

    def close(self) -> None:
        """Release every hold by ending the session."""
        with self._lock:
            self._held.clear()
            self._drop_connection()

    def _connection(self) -> Connection:
        if self._conn is not None and not _is_alive(self._conn):
            if self._held:
                # Holds still in use were lost with the session; other processes may now take those names.
                logger.warning("the PostgreSQL session holding durable streams %s was lost", sorted(self._held))
            self._drop_connection()
        if self._conn is None:
            self._conn = connect(self._target)
            self._retake(self._conn)
        return self._conn

    def _retake(self, conn: Connection) -> None:
        """Take the holds still in use again on a new session, so that they stay exclusive if still free."""
        for name, key in self._held.items():
            row = conn.execute(TRY_HOLD, [key]).fetchone()
            if row is None or not row[0]:
                logger.warning("durable stream %r was taken by another holder while its session was lost", name)

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _is_alive(conn: Connection) -> bool:
    try:
        check_alive(conn)
    except psycopg.Error:
        return False
    return True


class PostgresHold:
    """One durable name held by a store; :meth:`release` is idempotent."""

    def __init__(self, holds: Holds, name: str) -> None:
        self._holds = holds
        self._name = name
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._holds.release(self._name)

    @property
    def name(self) -> str:
        return self._name
