"""Commits of other processes: a LISTEN/NOTIFY watcher that wakes the store's stream workers.

A notification carries the new head and, for small commits, the committed batches: the watcher hands each to the
store's window of recent commits (:mod:`._window`), which lets stream workers read them without a round trip
while this session lives. Workers always read after their own position, from the window or the table. So on every
(re)connect the watcher first LISTENs, then opens the window anew and wakes every worker, which catches up from
its position; anything committed while the watcher was away is found in the table that way, and the stream
runtime's slow safety poll covers the rest.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading

import psycopg
from psycopg import sql

from .._errors import BackendError
from .._notify import Notifier
from ._connection import Connection, Target, connect
from ._window import Window

logger = logging.getLogger("factstr")

RECONNECT_FIRST_SECONDS = 0.05
RECONNECT_MAX_SECONDS = 2.0
# An idle listening session is checked this often, so that a silently dropped connection is noticed.
LIVENESS_CHECK_SECONDS = 30.0


class Listener:
    """A thread holding one LISTEN session; :meth:`stop` ends it promptly."""

    def __init__(self, target: Target, channel: str, notifier: Notifier, window: Window | None = None) -> None:
        self._target = target
        self._window = window if window is not None else Window()
        self._listen = sql.SQL("LISTEN {}").format(sql.Identifier(channel))
        self._notifier = notifier
        self._stopping = threading.Event()
        # select() needs something to wait on besides the connection: a socket pair works on every platform.
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name="factstr-postgres-listener", daemon=True)
        self.connected = threading.Event()
        """Set while a LISTEN session is established (tests use it to wait for the watcher)."""
        self.backend_pid: int | None = None
        """The server process of the current LISTEN session (tests terminate it to simulate a failure)."""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the watcher and wait for its thread to end."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"x")
        if self._thread.is_alive():
            self._thread.join()
        self._wake_reader.close()
        self._wake_writer.close()

    def _run(self) -> None:
        delay = RECONNECT_FIRST_SECONDS
        while not self._stopping.is_set():
            try:
                conn = connect(self._target)
            except BackendError as exc:
                logger.warning("cannot reach PostgreSQL to listen for commits; retrying", exc_info=exc)
                self._pause(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            try:
                conn.execute(self._listen)
                self.backend_pid = conn.info.backend_pid
                self.connected.set()
                delay = RECONNECT_FIRST_SECONDS
                # After LISTEN, not before: a commit made between the two would otherwise go unnoticed.
                self._window.open()
                self._notifier.notify()
                self._watch(conn)
            except (psycopg.Error, OSError) as exc:
                if not self._stopping.is_set():
                    logger.warning("the PostgreSQL LISTEN session was lost; reconnecting", exc_info=exc)
            finally:
                self._window.close()
                self.connected.clear()
                conn.close()
            self._pause(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    def _watch(self, conn: Connection) -> None:
        """Wake the workers on every notification until stopped; raise psycopg.Error when the session dies."""
        pgconn = conn.pgconn
        while not self._stopping.is_set():
            wake = self._wake_reader.fileno()
            readable, _, _ = select.select([pgconn.socket, wake], [], [], LIVENESS_CHECK_SECONDS)
            if wake in readable:
                return
            if not readable:
                conn.execute("SELECT 1")
                # psycopg keeps notifications that arrive during execute() to itself: the window may have missed
                # some, so it starts over, and the workers read the table.
                self._window.open()
                self._notifier.notify()
                continue
            pgconn.consume_input()
            woken = False
            while (notification := pgconn.notifies()) is not None:
                woken = True
                self._window.add(notification.extra.decode(conn.info.encoding))
            if woken:
                self._notifier.notify()
            if pgconn.status != psycopg.pq.ConnStatus.OK:
                raise psycopg.OperationalError("the LISTEN session was closed")

    def _pause(self, seconds: float) -> None:
        self._stopping.wait(seconds)
