"""The writers' lock across processes: the next writer starts the moment the previous one commits.

SQLite lets one connection write at a time; one that finds the file's write lock taken is put to sleep by the
busy handler in growing steps (1, 2, 5, 10 ... 100 ms) and tries again, so several processes writing at once
spend most of their time asleep, and four writer processes are no faster than one. FACTSTR writers therefore
queue on an ``flock`` of ``<database>.locks/writer`` first, then run their ``BEGIN IMMEDIATE`` transaction, and
release the flock after ``COMMIT``. The kernel wakes a waiter as soon as the holder releases, and the ``BEGIN
IMMEDIATE`` that follows finds SQLite's lock free (a program other than FACTSTR writing to the file is still
waited for by SQLite's busy handler). The flock belongs to the open file, so the death of a holder, even by
SIGKILL, releases it.

``flock`` cannot wait with a timeout. An uncontended lock is taken without waiting; a contended one is waited
for by a helper thread while the writer waits, up to ``busy_timeout``, for the helper to report. A helper that
gets the lock after its writer gave up releases it at once.
"""

from __future__ import annotations

import fcntl
import os
import threading


class WriteLock:
    """The flock writers queue on; one store's writers take it one at a time (under the store's write lock)."""

    def __init__(self, path: str) -> None:
        self._descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._condition = threading.Condition()
        self._wanted = False  # a writer waits for the helper to get the lock
        self._granted = False  # the helper got it for the waiting writer
        self._helper_waiting = False  # the helper is inside a blocking flock()
        self._closed = False
        self._helper: threading.Thread | None = None

    def acquire(self, timeout: float) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds; return whether it is held."""
        with self._condition:
            if self._closed:
                return False
            if not self._helper_waiting:
                # Only while no helper is waiting on this descriptor: a flock() that succeeded here would let a
                # helper's pending flock() succeed too, and that helper could then release the writer's lock.
                try:
                    fcntl.flock(self._descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    pass
            self._wanted = True
            self._granted = False
            if self._helper is None:
                self._helper = threading.Thread(target=self._wait_for_lock, name="factstr-sqlite-writer", daemon=True)
                self._helper.start()
            else:
                self._condition.notify_all()
            self._condition.wait_for(lambda: self._granted, timeout)
            granted = self._granted
            self._wanted = False
            self._granted = False
            return granted

    def release(self) -> None:
        """Release the lock taken by :meth:`acquire`."""
        with self._condition:
            if not self._closed:
                fcntl.flock(self._descriptor, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file (after the last release); a helper still waiting closes it when it returns."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
            if not self._helper_waiting:
                os.close(self._descriptor)

    def _wait_for_lock(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._wanted or self._closed)
                if self._closed:
                    return
                self._helper_waiting = True
            fcntl.flock(self._descriptor, fcntl.LOCK_EX)  # releases the GIL while the kernel queues it
            with self._condition:
                self._helper_waiting = False
                if self._closed:
                    os.close(self._descriptor)  # drops the lock with the file
                    return
                if self._wanted:
                    self._wanted = False  # or this loop would flock() again, and succeed, on the held lock
                    self._granted = True
                    self._condition.notify_all()
                else:
                    fcntl.flock(self._descriptor, fcntl.LOCK_UN)  # its writer gave up meanwhile
