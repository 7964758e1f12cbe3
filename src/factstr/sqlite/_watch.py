"""Wake stream workers when another process commits: poll ``PRAGMA data_version`` on a private connection.

``data_version`` changes whenever another connection (in any process) committed to the file since this
connection last looked. A change only wakes the workers; they read the log itself to find what is new, so a
poll that misses a commit costs at most one interval of latency, never a batch.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

from .._notify import Notifier

logger = logging.getLogger("factstr")

# A commit of another process reaches streams within about this long (B7 asks for p99 <= 50 ms).
WATCH_INTERVAL_SECONDS = 0.025


class DataVersionWatcher:
    """A daemon thread that calls ``notifier.notify()`` after every commit made through another connection."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], notifier: Notifier, interval: float) -> None:
        self._connect = connect
        self._notifier = notifier
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="factstr-sqlite-watch", daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling and close the watcher's connection; returns once the thread has ended."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        try:
            connection = self._connect()
        except Exception as exc:  # the stream workers' safety poll still delivers, only later
            logger.warning("sqlite watcher could not open its connection", exc_info=exc)
            return
        try:
            last = self._read(connection)
            # A commit made before the baseline was read would never show up as a change: wake the workers
            # once so that anyone who read the log before that moment reads it again.
            self._notifier.notify()
            while not self._stop.wait(self._interval):
                version = self._read(connection)
                if version != last:
                    self._notifier.notify()
                last = version
        finally:
            connection.close()

    @staticmethod
    def _read(connection: sqlite3.Connection) -> int | None:
        try:
            version: int = connection.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as exc:
            logger.warning("sqlite watcher could not read data_version", exc_info=exc)
            return None
        return version
