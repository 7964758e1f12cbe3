"""The operations of the side-by-side scenarios on any system's :class:`~bench.systems.Log`, each checking
what came back: filling a history, the read-decide-append of B3/B4, the seat reservations of B4c.

They are shared with the subprocess writers (``bench.worker``), so that threads and processes, and every
system, do exactly the same work.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from .data import (
    CONTEXT_SIZE,
    DECIDED,
    FILL_BATCH,
    RESERVED,
    TYPES,
    account_key,
    decided_event,
    history_event,
    reserved_event,
)
from .model import check
from .systems import Log, RecordLike, Selector

PAGE = 1000


def account_selector(account: int) -> Selector:
    """B3/B4's decision context: every event of one account, of the four history types and decisions."""
    return Selector((*TYPES, DECIDED), "account", account_key(account))


def bucket_selector(bucket: int) -> Selector:
    """B5's selective query: one type and one bucket, about 0.1% of the history."""
    return Selector((TYPES[bucket % len(TYPES)],), "bucket", bucket)


def counter_selector(counter: str) -> Selector:
    """B4c's shared context: every reservation against one counter."""
    return Selector((RESERVED,), "counter", counter)


def fill_log(log: Log, start: int, stop: int, *, batch: int = FILL_BATCH) -> None:
    """Append history events ``start..stop-1`` in appends of ``batch``; check every returned position."""
    i = start
    while i < stop:
        upto = min(stop, i + batch)
        last = log.append([history_event(j) for j in range(i, upto)])
        check(last == upto, f"fill: appended history events {i + 1}..{upto}, the last got position {last}")
        i = upto


def decide(log: Log, account: int, writer: int) -> bool:
    """Read one account's context, decide, append on the position the read returned; False on a conflict."""
    selector = account_selector(account)
    records, after = log.read(selector)
    key = account_key(account)
    check(
        len(records) >= CONTEXT_SIZE and all(record.payload["account"] == key for record in records),
        f"context of {key} returned {len(records)} records, expected >= {CONTEXT_SIZE} all of that account",
    )
    check(
        after is not None and after >= records[-1].sequence_number,
        f"context of {key}: the read returned position {after}, before its last record {records[-1].sequence_number}",
    )
    return log.append_if([decided_event(account, writer, len(records))], selector, after) is not None


def decide_until(log: Log, accounts: Sequence[int], writer: int, deadline: float) -> tuple[int, int]:
    """Run :func:`decide` round-robin over ``accounts`` until ``time.time()`` passes ``deadline``."""
    ops = conflicts = 0
    i = writer
    while time.time() < deadline:
        if decide(log, accounts[i % len(accounts)], writer):
            ops += 1
        else:
            conflicts += 1
        i += 1
    return ops, conflicts


def reserve_until(log: Log, counter: str, limit: int, writer: int, deadline: float) -> tuple[int, int]:
    """Reserve seats on a shared counter, never past ``limit``, until it is full or ``deadline`` passes."""
    selector = counter_selector(counter)
    ops = conflicts = 0
    while time.time() < deadline:
        records, after = log.read(selector)
        taken = len(records)
        if taken >= limit:
            break
        if log.append_if([reserved_event(counter, writer, taken + 1)], selector, after) is None:
            conflicts += 1
        else:
            ops += 1
    return ops, conflicts


def read_after(log: Log, after: int) -> list[RecordLike]:
    """Every record after ``after``, read in pages."""
    records: list[RecordLike] = []
    position = after
    while True:
        page = log.page(position, PAGE)
        if not page:
            return records
        records.extend(page)
        position = page[-1].sequence_number


def check_writers(log: Log, before: int, per_writer: Sequence[tuple[int, int]], label: str) -> None:
    """B4: the records after ``before`` are numbered gaplessly, and each writer's count is in the log."""
    records = read_after(log, before)
    head = log.head()
    numbers = [record.sequence_number for record in records]
    check(
        numbers == list(range(before + 1, head + 1)),
        f"{label}: positions after {before} are not gapless up to head {head} "
        f"({len(numbers)} records, first {numbers[:3]}, last {numbers[-3:]})",
    )
    by_writer = Counter(record.payload["writer"] for record in records if record.event_type == DECIDED)
    ops = sum(o for o, _ in per_writer)
    check(
        len(records) == ops and [by_writer[w + 1] for w in range(len(per_writer))] == [o for o, _ in per_writer],
        f"{label}: {len(records)} new records, writers reported {list(per_writer)}, the log has {dict(by_writer)}",
    )


def check_counter(log: Log, counter: str, limit: int, per_writer: Sequence[tuple[int, int]], label: str) -> int:
    """B4c: never past the limit, seats ``1..n`` once each, as many as the writers reported; return n."""
    records, _ = log.read(counter_selector(counter))
    seats = sorted(int(record.payload["seat"]) for record in records)
    check(len(records) <= limit, f"{label}: INVARIANT BROKEN: {len(records)} reservations, limit {limit}")
    check(
        seats == list(range(1, len(seats) + 1)),
        f"{label}: seats should be exactly 1..{len(seats)} once each; duplicates "
        f"{sorted(s for s, n in Counter(seats).items() if n > 1)[:10]}",
    )
    check(
        sum(o for o, _ in per_writer) == len(records) and all(r.event_type == RESERVED for r in records),
        f"{label}: writers reported {sum(o for o, _ in per_writer)} reservations, the log holds {len(records)}",
    )
    return len(records)
