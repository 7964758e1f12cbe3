"""Keep the planner's statistics of the events and postings tables fresh while the log grows.

The store's functions leave the planner no choice of index (see :mod:`._functions`), but it still estimates
row counts, for instance to choose how to join the postings to their events, and a log that grew fast (a bulk
load, a new deployment) is planned from statistics that describe a fraction of it until autovacuum refreshes
them on its own schedule. So the store runs ANALYZE itself, in the background, whenever the log has grown by a
quarter (plus 10k events) since the statistics it knows of were taken; every session then plans its statements
again, once. ANALYZE samples a fixed number of rows and blocks neither readers nor writers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger("factstr")

GROWTH_FACTOR = 1.25
GROWTH_MINIMUM = 10_000


def next_threshold(analyzed_rows: int) -> int:
    """The head at which statistics taken over ``analyzed_rows`` rows are refreshed."""
    return int(max(analyzed_rows, 0) * GROWTH_FACTOR) + GROWTH_MINIMUM


class StatisticsKeeper:
    """Run ``analyze`` on a background thread when the head passes the next threshold (one run at a time)."""

    def __init__(self, analyze: Callable[[], None], analyzed_rows: int) -> None:
        self._analyze = analyze
        self._threshold = next_threshold(analyzed_rows)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def note_head(self, head: int) -> None:
        """Called after each commit with the new head; cheap unless a refresh is due."""
        if head < self._threshold:
            return
        with self._lock:
            if self._closed or head < self._threshold or (self._thread is not None and self._thread.is_alive()):
                return
            self._threshold = next_threshold(head)
            self._thread = threading.Thread(target=self._run, name="factstr-analyze", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self._analyze()
        except Exception as exc:  # statistics are an optimisation: never fail an append for them
            logger.warning("could not refresh the statistics of the events table", exc_info=exc)

    def close(self) -> None:
        """Wait for a refresh in progress; start no more."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            thread.join()
