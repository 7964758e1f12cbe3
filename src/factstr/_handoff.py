"""The one hand-off from a worker thread to an event loop: a thread queues items, the loop awaits them.

Streams run on worker threads (``_streams``) and both asyncio consumers of them, the HTTP server's event
streams and the ``factstr.aio`` facade, take their batches on an event loop. :class:`Handoff` is how they
meet: the thread side appends under a lock and wakes the loop with ``call_soon_threadsafe``; the loop side
takes without waiting or awaits a wake-up, with a timeout so that it can look at things no one signals (a
stream that stopped, a heartbeat that is due). Nothing polls while items flow.

Backpressure and acknowledgements stay with each user (they differ): the lock is shared as ``condition``,
so a user can wait on it for its own reasons, and :meth:`take` notifies it whenever an item left.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Handoff(Generic[T]):
    """Items from any thread to one reader on ``loop``, in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.condition = threading.Condition()
        self.items: collections.deque[T] = collections.deque()
        self._ready = asyncio.Event()

    # --- any thread --------------------------------------------------------------------------------------

    def put(self, item: T) -> bool:
        """Queue ``item`` and wake the reader; False when the event loop is gone (nobody will take it)."""
        with self.condition:
            self.items.append(item)
        return self.wake()

    def wake(self) -> bool:
        """Wake the reader (something changed); False when the event loop is closed: nobody reads any more."""
        try:
            self.loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:
            return False
        return True

    # --- the event loop ----------------------------------------------------------------------------------

    def take(self) -> T | None:
        """Return the oldest item without waiting, or None; the next :meth:`wait` then waits for a wake-up.

        The wake-up flag is cleared before looking, under the lock: an item queued after the look wakes the
        reader again, so none is ever missed.
        """
        with self.condition:
            if not self.items:
                self._ready.clear()
                return None
            item = self.items.popleft()
            self.condition.notify_all()
            return item

    async def wait(self, timeout: float) -> None:
        """Return after a wake-up (an item, or a change the user signalled) or after ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)

    async def get(self, timeout: float) -> T | None:
        """Return the oldest item, waiting up to ``timeout`` seconds for one; None if none came."""
        item = self.take()
        if item is None:
            await self.wait(timeout)
            item = self.take()
        return item
