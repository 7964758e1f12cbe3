"""Read scenarios: B5 selective queries at two history sizes, B6 reading the whole log in pages."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from factstr import EventQuery

from .data import (
    BUCKETS,
    CONTEXT_SIZE,
    TYPES,
    account_query,
    accounts_in,
    bucket_query,
    expected_bucket_count,
)
from .model import Result, check, fmt_ratio
from .raw import RawDatabase
from .session import Session
from .stats import latencies_for, median, percentile, warm_up

PAGE = 1000


def b5(session: Session) -> Result:
    """B5: selective query (type + payload predicate, 0.1% of the history): p50/p99 at small and N."""
    settings = session.settings
    p50: dict[int, float] = {}
    p99: dict[int, float] = {}
    raw_p50: dict[int, float] = {}
    context_p50: dict[int, float] = {}
    raw = session.target.raw()
    for size in session.sizes:
        p50[size], p99[size] = _selective_latencies(session, size)
        context_p50[size] = _context_latencies(session, size)[0]
        if raw is not None:
            raw.fill_lookup(size)
            buckets = random.Random(size)
            raw_samples = [
                percentile(latencies_for(settings.duration, lambda: _raw_lookup(raw, buckets, size)), 50)  # noqa: B023
                for _ in range(settings.repeat)
            ]
            raw_p50[size] = median(raw_samples)
    small, large = session.sizes
    ratio = p50[small] / p50[large]
    result = Result("B5", session.target.name)
    result.figure = (
        f"p50/p99 {_ms(p50[small])}/{_ms(p99[small])} @{small:,}; {_ms(p50[large])}/{_ms(p99[large])} @{large:,}"
    )
    result.ratio = f"p50 @{small:,}/@{large:,} = {fmt_ratio(ratio)}"
    context_ratio = context_p50[small] / context_p50[large]
    result.ratio += (
        f"; 8-event context p50 {_ms(context_p50[small])} @{small:,}, {_ms(context_p50[large])} @{large:,} "
        f"(ratio {fmt_ratio(context_ratio)})"
    )
    result.metrics = {
        "context_p50_ms_small": context_p50[small] * 1e3,
        "context_p50_ms_n": context_p50[large] * 1e3,
        "context_ratio_small_to_n": context_ratio,
        "p50_ms_small": p50[small] * 1e3,
        "p99_ms_small": p99[small] * 1e3,
        "p50_ms_n": p50[large] * 1e3,
        "p99_ms_n": p99[large] * 1e3,
        "ratio_small_to_n": ratio,
        "matches_small": expected_bucket_count(0, small),
        "matches_n": expected_bucket_count(0, large),
    }
    if raw_p50:
        result.ratio += f"; raw indexed lookup p50 {_ms(raw_p50[small])} @{small:,}, {_ms(raw_p50[large])} @{large:,}"
        result.metrics.update(raw_p50_ms_small=raw_p50[small] * 1e3, raw_p50_ms_n=raw_p50[large] * 1e3)
    bound = 0.5 if session.target.name == "memory" else 2.0
    result.target = f"p50 <= {bound} ms at 1M; ratio >= 0.5"
    result.met = p50[large] * 1e3 <= bound and ratio >= 0.5
    return result


def _selective_latencies(session: Session, size: int) -> tuple[float, float]:
    """Run random selective queries on the history of ``size``; return the median p50 and p99 in seconds."""
    store = session.history(size).store
    buckets = random.Random(size)
    samples: list[float] = []

    def operation() -> None:
        bucket = buckets.randrange(BUCKETS)
        started = time.perf_counter()
        result = store.query(bucket_query(bucket))
        elapsed = time.perf_counter() - started
        records = result.event_records
        expected = expected_bucket_count(bucket, size)
        check(
            len(records) == expected,
            f"B5 @{size}: bucket {bucket} returned {len(records)} records, expected {expected}",
        )
        numbers = [record.sequence_number for record in records]
        check(
            numbers == [i + 1 for i in range(bucket, size, BUCKETS)]
            and all(record.payload["bucket"] == bucket for record in records),
            f"B5 @{size}: bucket {bucket} returned the wrong records (first numbers {numbers[:5]})",
        )
        samples.append(elapsed)

    return _timed(session, operation, samples)


def _context_latencies(session: Session, size: int) -> tuple[float, float]:
    """Query random 8-event account contexts (a result size independent of the log size); median p50/p99."""
    store = session.history(size).store
    accounts = random.Random(size + 1)
    samples: list[float] = []

    def operation() -> None:
        account = accounts.randrange(accounts_in(size))
        started = time.perf_counter()
        result = store.query(account_query(account))
        elapsed = time.perf_counter() - started
        records = result.event_records
        check(
            [record.sequence_number for record in records]
            == list(range(account * CONTEXT_SIZE + 1, (account + 1) * CONTEXT_SIZE + 1)),
            f"B5 @{size}: context of account {account} returned {[r.sequence_number for r in records][:10]}",
        )
        samples.append(elapsed)

    return _timed(session, operation, samples)


def _timed(session: Session, operation: Callable[[], None], samples: list[float]) -> tuple[float, float]:
    """Warm up, then run ``operation`` (which appends its latency to ``samples``) for the set duration."""
    settings = session.settings
    warm_up(settings.warm_up_seconds, operation)
    p50s, p99s = [], []
    for _ in range(settings.repeat):
        samples.clear()
        deadline = time.perf_counter() + settings.duration
        while time.perf_counter() < deadline:
            operation()
        p50s.append(percentile(samples, 50))
        p99s.append(percentile(samples, 99))
    return median(p50s), median(p99s)


def _raw_lookup(raw: RawDatabase, buckets: random.Random, size: int) -> None:
    bucket = buckets.randrange(BUCKETS)
    count = raw.lookup(TYPES[bucket % len(TYPES)], bucket, size)
    check(count == expected_bucket_count(bucket, size), f"raw lookup of bucket {bucket} returned {count} rows")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def b6(session: Session) -> Result:
    """B6: read the whole log of N events in pages of 1000; count and check every number."""
    settings = session.settings
    store = session.history(settings.events).store
    head = store.head() or 0
    rates = []
    for _ in range(max(settings.repeat, 1)):
        started = time.perf_counter()
        count = 0
        position = 0
        while True:
            page = store.query(EventQuery(min_sequence_number=position, limit=PAGE)).event_records
            if not page:
                break
            check(
                page[0].sequence_number == position + 1 and page[-1].sequence_number == position + len(page),
                f"B6: page after {position} holds {page[0].sequence_number}..{page[-1].sequence_number}",
            )
            count += len(page)
            position = page[-1].sequence_number
        elapsed = time.perf_counter() - started
        check(count == head, f"B6: read {count} events, the log holds {head}")
        rates.append(count / elapsed)
    rate = median(rates)
    goal = 150_000 if session.target.name == "postgres" else 300_000
    result = Result("B6", session.target.name, figure=f"{rate:,.0f} events/s ({head:,} events, pages of {PAGE})")
    result.metrics = {"events_per_second": rate, "events": head, "samples": rates}
    result.target = f">= {goal // 1000}k events/s"
    result.met = rate >= goal
    return result
