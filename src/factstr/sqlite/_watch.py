"""Wake stream workers when another process commits: a wake-up pipe, and a slow ``PRAGMA data_version`` poll.

Writers of every FACTSTR process wake the followers registered next to the database (:mod:`._wake`) right after
each commit, so a stream sees another process's batch as soon as its worker can run. ``data_version`` changes
whenever another connection, in any process, committed to the file; polling it every ``interval`` seconds is the
fallback for commits that came with no wake-up (a program other than FACTSTR, or a pipe that could not be made).

A wake-up or a change only wakes the workers; they read the log itself to find what is new, so a missed one
costs latency, never a batch. Between wake-ups the watcher sleeps in ``poll()``: an idle follower costs nothing.
"""

from __future__ import annotations

import logging
import select
import sqlite3
import threading
from collections.abc import Callable

from .._notify import Notifier
from ._wake import WakeChannel

logger = logging.getLogger("factstr")

# How often commits of other processes are looked for without a wake-up (the fallback poll).
WATCH_INTERVAL_SECONDS = 1.0


class CommitWatcher:
    """A daemon thread that calls ``notifier.notify()`` after commits made through other connections."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        notifier: Notifier,
        interval: float,
        wake_directory: str | None,
    ) -> None:
        self._connect = connect
        self._notifier = notifier
        self._interval = interval
        self._wake_directory = wake_directory
        self._stop = threading.Event()
        self._channel: WakeChannel | None = None
        self._thread = threading.Thread(target=self._run, name="factstr-sqlite-watch", daemon=True)

    @property
    def channel_name(self) -> str | None:
        """The name of this watcher's wake-up pipe (``None`` without one)."""
        return None if self._channel is None else self._channel.name

    def start(self) -> None:
        """Register the wake-up pipe, then start watching.

        The pipe is registered before this returns, so a stream that starts reading afterwards is woken by every
        later commit of another process.
        """
        if self._wake_directory is not None:
            try:
                self._channel = WakeChannel(self._wake_directory)
            except OSError as exc:
                logger.warning(
                    "sqlite watcher cannot register a wake-up pipe in %r (%s); commits of other processes reach "
                    "streams within the poll interval",
                    self._wake_directory,
                    exc,
                )
        self._thread.start()

    def stop(self) -> None:
        """Stop watching, unregister and close; returns once the thread has ended."""
        self._stop.set()
        if self._channel is not None:
            self._channel.interrupt()
        if self._thread.is_alive():
            self._thread.join()
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def _run(self) -> None:
        try:
            connection = self._connect()
        except Exception as exc:  # the stream workers' safety poll still delivers, only later
            logger.warning("sqlite watcher could not open its connection", exc_info=exc)
            connection = None
        try:
            last = self._read(connection)
            # A commit made before the baseline was read would never show up as a change: wake the workers
            # once so that anyone who read the log before that moment reads it again.
            self._notifier.notify()
            channel = self._channel
            waiter = select.poll()
            if channel is not None:
                waiter.register(channel.fileno(), select.POLLIN)
            timeout_ms = max(1, round(self._interval * 1000))
            while True:
                if channel is None:
                    if self._stop.wait(self._interval):
                        return
                else:
                    woken = waiter.poll(timeout_ms)
                    if self._stop.is_set():
                        return
                    if woken:
                        channel.drain()
                        self._notifier.notify()
                        continue
                version = self._read(connection)
                if version != last:
                    self._notifier.notify()
                last = version
        finally:
            if connection is not None:
                connection.close()

    @staticmethod
    def _read(connection: sqlite3.Connection | None) -> int | None:
        if connection is None:
            return None
        try:
            version: int = connection.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as exc:
            logger.warning("sqlite watcher could not read data_version", exc_info=exc)
            return None
        return version
