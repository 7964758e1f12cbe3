"""Connections to one SQLite file: how each is configured, and the pool of reader connections.

``sqlite3`` connections are not safe to use from two threads at once. The store has one writer connection,
used only under the store's write lock, and lends reader connections from a pool, one thread at a time.
Every connection runs in autocommit mode (``isolation_level=None``) so that transactions are exactly the
explicit BEGIN ... COMMIT the store writes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Idle reader connections kept open; more are opened under load and closed when they come back.
MAX_IDLE_READERS = 8
# The writer's page cache (SQLite's default is 2 MiB per connection).
WRITER_CACHE_KIB = 32 * 1024


def open_connection(path: str, *, busy_timeout: float, synchronous: str, query_only: bool) -> sqlite3.Connection:
    """Open one configured connection (the caller closes it)."""
    connection = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=False, cached_statements=256
    )
    try:
        # synchronous is per connection: it decides whether this connection's commits wait for the disk.
        connection.execute(f"PRAGMA synchronous = {synchronous}")
        # Unions of candidate numbers use temporary b-trees; keep them off the disk.
        connection.execute("PRAGMA temp_store = MEMORY")
        if query_only:
            connection.execute("PRAGMA query_only = 1")
        else:
            # An append touches one random page of the term index per payload term: keep more of them cached.
            connection.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB:d}")
    except BaseException:
        connection.close()
        raise
    return connection


class ReaderPool:
    """Reader connections lent out one thread at a time; every connection is closed by :meth:`close`."""

    def __init__(self, path: str, *, busy_timeout: float) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._closed = False

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """Lend a connection inside one read transaction: every statement sees the same committed state.

        Keep it short: in WAL mode a checkpoint cannot pass a snapshot that is still open.
        """
        connection = self._take()
        try:
            # A deferred BEGIN takes its snapshot at the first SELECT and never blocks a writer.
            connection.execute("BEGIN")
            try:
                yield connection
            finally:
                if connection.in_transaction:
                    connection.execute("COMMIT")
        finally:
            self._give_back(connection)

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """Lend a connection for one statement (a statement is its own snapshot in autocommit mode)."""
        connection = self._take()
        try:
            yield connection
        finally:
            self._give_back(connection)

    def close(self) -> None:
        """Close the idle connections now and every lent one when it comes back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _take(self) -> sqlite3.Connection:
        with self._lock:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            if self._idle:
                return self._idle.pop()
        # "normal" is safe here: a reader never commits anything.
        return open_connection(self._path, busy_timeout=self._busy_timeout, synchronous="NORMAL", query_only=True)

    def _give_back(self, connection: sqlite3.Connection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < MAX_IDLE_READERS and not connection.in_transaction:
                self._idle.append(connection)
                return
        connection.close()
