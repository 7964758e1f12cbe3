"""Wake-up signals for stream workers.

A notification is only a hint that the log may have grown; workers always read the log itself to find out
what is new, so a missed or spurious notification costs latency, never correctness.
"""

from __future__ import annotations

import threading


class Notifier:
    """A counter that waiters can sleep on until it changes."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._version = 0

    def version(self) -> int:
        """Return the current counter; pass it to :meth:`wait` to sleep until the next notification."""
        return self._version

    def notify(self) -> None:
        """Wake every waiter: something may have been committed."""
        with self._condition:
            self._version += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        """Sleep until a notification newer than ``seen`` arrives or ``timeout`` seconds pass."""
        with self._condition:
            if self._version == seen:
                self._condition.wait(timeout)
