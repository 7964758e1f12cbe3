"""Durable-name holds across processes: session-level advisory locks on one connection per store.

PostgreSQL releases a session's advisory locks when the session ends, however it ends, so the hold of a
process that dies is released by the server. A session may take the same advisory lock twice, so this store
also remembers its own holds: a second registration of a name inside the same store is refused here.

The other side of that: a hold is lost while its process still runs when the session ends under it (the
server restarted, the connection was cut or terminated), and another process may then take the name. Each
session this store opens gets a number; a hold remembers the session it was taken on. Confirming a hold
(before a stream reads or handles anything) only looks at what the server sent on that session while it sat
idle, no round trip; once it is gone, the hold is taken again on a new session, and kept only if the
name's stored cursor is still the one the stream last stored (nobody handled the name in between).
"""

from __future__ import annotations

import logging
import threading

import psycopg
from psycopg import sql

from .._errors import DurableStreamActive, DurableStreamLost
from ._connection import Connection, Target, connect, is_alive, translate_errors
from ._schema import advisory_key
from ._sql import LOAD_CURSOR, RELEASE_HOLD, TRY_HOLD

logger = logging.getLogger("factstr")


class Holds:
    """The advisory locks one store holds, on one dedicated connection opened on first use."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._session = 0  # the number of the current session; 0 before the first
        self._held: dict[str, PostgresHold] = {}
        self._load_cursor = LOAD_CURSOR.replace(
            "{cursors}", sql.Identifier(target.schema, "durable_cursors").as_string()
        )

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
            hold = self._held[name] = PostgresHold(self, name, key, self._session)
        return hold

    def confirm(self, hold: PostgresHold, stored_cursor: int) -> None:
        """Return once ``hold`` is held on the live session, taking it back there if its session ended.

        Raises DurableStreamLost when another holder has the name or its stored cursor is no longer
        ``stored_cursor``, and BackendError when the server cannot be reached now.
        """
        with self._lock:
            if hold.session == self._session and hold.verified and self._conn is not None and is_alive(self._conn):
                return
            if self._held.get(hold.name) is not hold:
                raise DurableStreamLost(f"the hold on durable stream {hold.name!r} was released")
            doing = f"taking the hold on durable stream {hold.name!r} back"
            with translate_errors(self._target, doing):
                conn = self._connection()
                if hold.session != self._session:
                    row = conn.execute(TRY_HOLD, [hold.key]).fetchone()
                    if row is None or not row[0]:
                        raise DurableStreamLost(
                            f"durable stream {hold.name!r} lost its hold with its PostgreSQL session, and "
                            "another holder took the name; it stopped"
                        )
                    # Held on this session from here on: released on this session too, whatever follows.
                    hold.session = self._session
                    hold.verified = False
                if not hold.verified:
                    # Read after taking the lock: the cursor write of a holder in between committed before
                    # that holder let go, so this statement sees it.
                    row = conn.execute(self._load_cursor, [hold.name]).fetchone()
                    stored = None if row is None else int(row[2])
                    if stored != stored_cursor:
                        self._unlock(conn, hold)
                        raise DurableStreamLost(
                            f"durable stream {hold.name!r} lost its hold with its PostgreSQL session, and its "
                            f"stored cursor moved from {stored_cursor} to {stored} meanwhile; it stopped"
                        )
                    hold.verified = True
            logger.warning("durable stream %r took its hold back after its PostgreSQL session ended", hold.name)

    def release(self, hold: PostgresHold) -> None:
        """Give ``hold`` back (nothing happens if it is no longer this store's)."""
        with self._lock:
            if self._held.get(hold.name) is not hold:
                return
            del self._held[hold.name]
            conn = self._conn
            if conn is None or hold.session != self._session:
                return  # the session it was taken on ended, and the server released it with that session
            try:
                self._unlock(conn, hold)
            except psycopg.Error as exc:
                # The session is gone, and the server released its locks with it.
                logger.warning("could not release the hold on durable stream %r", hold.name, exc_info=exc)
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
        if self._conn is not None and not is_alive(self._conn):
            if any(hold.session == self._session for hold in self._held.values()):
                # Until each is taken back, other processes may take those names.
                logger.warning("the PostgreSQL session holding durable streams %s ended", sorted(self._held))
            self._drop_connection()
        if self._conn is None:
            self._conn = connect(self._target)
            self._session += 1
        return self._conn

    def _unlock(self, conn: Connection, hold: PostgresHold) -> None:
        conn.execute(RELEASE_HOLD, [hold.key])
        hold.session = 0

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PostgresHold:
    """One durable name held by a store; :meth:`release` is idempotent."""

    def __init__(self, holds: Holds, name: str, key: int, session: int) -> None:
        self._holds = holds
        self.name = name
        self.key = key
        self.session = session  # the session the advisory lock is held on (0: none)
        self.verified = True  # False while taken back but the stored cursor is not checked yet
        self._released = False

    def confirm(self, stored_cursor: int) -> None:
        """See :class:`factstr._streams.LosableHold`."""
        self._holds.confirm(self, stored_cursor)

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._holds.release(self)
