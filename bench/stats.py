"""Timing and summary statistics: runs for a fixed time, medians of repetitions, p50/p99 latencies."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple


class Rate(NamedTuple):
    """How many units of work were done in how many seconds."""

    units: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.units / self.seconds if self.seconds > 0 else 0.0


def median(values: Sequence[float]) -> float:
    """Return the median (the figure reported for repeated measurements)."""
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """Return the nearest-rank ``q``-th percentile of ``values`` (at least one value)."""
    if not values:
        raise ValueError("no samples")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def run_for(seconds: float, operation: Callable[[], int]) -> Rate:
    """Call ``operation`` (which returns how many units it did) until ``seconds`` have passed."""
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    now = start
    while now < deadline:
        count += operation()
        now = time.perf_counter()
    return Rate(count, now - start)


def latencies_for(seconds: float, operation: Callable[[], object], max_samples: int = 1_000_000) -> list[float]:
    """Call ``operation`` until ``seconds`` have passed; return each call's latency in seconds."""
    samples: list[float] = []
    clock = time.perf_counter
    deadline = clock() + seconds
    while len(samples) < max_samples:
        started = clock()
        operation()
        finished = clock()
        samples.append(finished - started)
        if finished >= deadline:
            break
    return samples


def warm_up(seconds: float, operation: Callable[[], object]) -> None:
    """Run ``operation`` for a short while so that caches, connections and JIT-free paths are warm."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        operation()
