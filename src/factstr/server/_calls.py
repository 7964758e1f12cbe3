"""Store calls off the event loop, on long-lived worker threads, with the cheapest hand-off asyncio has.

Every store call blocks (a database round trip, a lock, a join), so the routes never run one on the event
loop. Starlette's ``run_in_threadpool`` goes through anyio (a capacity limiter, a cancel scope, a task per
call); for the short calls that make up most requests (append, query, head) that machinery cost more than the
call. :class:`StoreCalls` keeps a fixed set of worker threads alive for the app's lifetime, each keeping the
store's connection of its thread (the stores hold one per thread), and hands work to them with
``loop.run_in_executor``: one queue put and one ``call_soon_threadsafe`` per call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# As many as Starlette's thread pool allows by default: a stream registration or a slow query may hold one.
DEFAULT_WORKERS = 40


class StoreCalls:
    """The worker threads of one app's store calls."""

    def __init__(self, workers: int = DEFAULT_WORKERS) -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="factstr-store")

    def submit(self, call: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Start ``call(*args)`` on a worker thread; the future (of the running loop) has its outcome."""
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, functools.partial(call, *args) if args else call)

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        """Run ``call(*args)`` on a worker thread and return its result (or raise its exception)."""
        return await self.submit(call, *args)

    def close(self) -> None:
        """Let the workers finish what they run and stop; idempotent."""
        self._executor.shutdown(wait=False)
