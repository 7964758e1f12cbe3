"""Write scenarios: B1 single appends, B2 batches, B3 read-decide-append, B4 and B4c concurrent writers.

The decision loops are shared with the subprocess writers (``bench.worker``) so that threads and processes
do exactly the same work.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from factstr import ConditionalAppendConflict, EventQuery, EventRecord, EventStore

from .data import (
    CONTEXT_SIZE,
    DECIDED,
    RESERVED,
    account_key,
    account_query,
    accounts_in,
    counter_query,
    decided_event,
    history_event,
    history_payload,
    reserved_event,
)
from .model import Result, check, fmt_rate, fmt_ratio
from .procs import run_together
from .session import Session
from .stats import median, run_for, warm_up

BATCH = 100
PAGE = 1000


# --- the loops (threads and processes) ---------------------------------------------------------------------


def decide(store: EventStore, account: int, writer: int) -> bool:
    """Read one account's context, decide, and append on its version; False on a conflict."""
    query = account_query(account)
    result = store.query(query)
    records = result.event_records
    key = account_key(account)
    check(
        len(records) >= CONTEXT_SIZE and all(record.payload["account"] == key for record in records),
        f"context of {key} returned {len(records)} records, expected >= {CONTEXT_SIZE} all of that account",
    )
    check(
        result.current_context_version == records[-1].sequence_number,
        f"context of {key}: current_context_version {result.current_context_version} "
        f"!= last record {records[-1].sequence_number}",
    )
    try:
        store.append_if([decided_event(account, writer, len(records))], query, result.current_context_version)
    except ConditionalAppendConflict:
        return False
    return True


def decide_until(store: EventStore, accounts: Sequence[int], writer: int, deadline: float) -> tuple[int, int]:
    """Run :func:`decide` round-robin over ``accounts`` until ``time.time()`` passes ``deadline``."""
    ops = conflicts = 0
    i = writer
    while time.time() < deadline:
        if decide(store, accounts[i % len(accounts)], writer):
            ops += 1
        else:
            conflicts += 1
        i += 1
    return ops, conflicts


def reserve_until(store: EventStore, counter: str, limit: int, writer: int, deadline: float) -> tuple[int, int]:
    """Reserve seats on a shared counter, never past ``limit``, until it is full or ``deadline`` passes."""
    query = counter_query(counter)
    ops = conflicts = 0
    while time.time() < deadline:
        result = store.query(query)
        taken = len(result.event_records)
        if taken >= limit:
            break
        try:
            store.append_if([reserved_event(counter, writer, taken + 1)], query, result.current_context_version)
        except ConditionalAppendConflict:
            conflicts += 1
        else:
            ops += 1
    return ops, conflicts


def decision_accounts(history: int, small: int) -> list[int]:
    """The accounts B3/B4 decide on: as many as the small history holds, spread evenly over the history.

    Both history sizes use the same number of contexts, so contexts grow alike and only the log size differs.
    """
    count = accounts_in(small)
    stride = max(1, accounts_in(history) // count)
    return [k * stride for k in range(count)]


def read_after(store: EventStore, after: int) -> list[EventRecord]:
    """Every record after ``after``, read in pages."""
    records: list[EventRecord] = []
    position = after
    while True:
        page = store.query(EventQuery(min_sequence_number=position, limit=PAGE)).event_records
        if not page:
            return records
        records.extend(page)
        position = page[-1].sequence_number


def check_gapless(store: EventStore, after: int, label: str) -> list[EventRecord]:
    """Check that the records after ``after`` are numbered ``after+1 .. head`` without a gap; return them."""
    records = read_after(store, after)
    head = store.head() or 0
    numbers = [record.sequence_number for record in records]
    check(
        numbers == list(range(after + 1, head + 1)),
        f"{label}: sequence numbers after {after} are not gapless up to head {head} "
        f"({len(numbers)} records, first {numbers[:3]}, last {numbers[-3:]})",
    )
    return records


# --- B1, B2 ------------------------------------------------------------------------------------------------


def b1(session: Session) -> Result:
    """B1: sequential append of 1 event vs a raw INSERT+COMMIT loop."""
    return _sequential(session, "B1", 1)


def b2(session: Session) -> Result:
    """B2: sequential append of 100-event batches vs a raw 100-row transaction."""
    return _sequential(session, "B2", BATCH)


def _sequential(session: Session, scenario: str, size: int) -> Result:
    settings = session.settings
    store = session.fresh(f"{scenario.lower()}-appends").store
    raw = session.target.raw()
    appended = 0

    def store_op() -> int:
        nonlocal appended
        result = store.append([history_event(appended + j) for j in range(size)])
        check(
            result.first_sequence_number == appended + 1 and result.committed_count == size,
            f"{scenario}: append #{appended // size + 1} got numbers {result.first_sequence_number}.."
            f"{result.last_sequence_number}, expected from {appended + 1} ({size} events)",
        )
        appended += size
        return size

    raw_rows = 0

    def raw_op() -> int:
        nonlocal raw_rows
        assert raw is not None
        if size == 1:
            raw.insert_one("OrderPlaced", history_payload(raw_rows))
        else:
            raw.insert_batch([("OrderPlaced", history_payload(raw_rows + j)) for j in range(size)])
        raw_rows += size
        return size

    store_rates: list[float] = []
    raw_rates: list[float] = []
    warm_up(settings.warm_up_seconds, store_op)
    if raw is not None:
        warm_up(settings.warm_up_seconds, raw_op)
    for _ in range(settings.repeat):
        if raw is not None:
            raw_rates.append(run_for(settings.duration, raw_op).per_second)
        store_rates.append(run_for(settings.duration, store_op).per_second)
    check(store.head() == appended, f"{scenario}: head is {store.head()} after {appended} appended events")
    rate = median(store_rates)
    result = Result(scenario, session.target.name, figure=f"{rate:,.0f} events/s")
    result.metrics = {"events_per_second": rate, "batch": size, "samples": store_rates}
    goal = 0.8 if size == 1 else 0.5
    if raw is not None:
        raw_rate = median(raw_rates)
        ratio = rate / raw_rate
        what = "INSERT+COMMIT" if size == 1 else "100-row txn"
        result.ratio = f"{fmt_ratio(ratio)} of raw {what} ({raw_rate:,.0f} events/s)"
        result.metrics.update(raw_events_per_second=raw_rate, ratio_to_raw=ratio, raw_samples=raw_rates)
        result.target = f">= {goal} of raw"
        result.met = ratio >= goal
    else:
        result.target = "(no raw baseline)"
    return result


# --- B3 ----------------------------------------------------------------------------------------------------


def b3(session: Session) -> Result:
    """B3: query a context, then append_if on its version; history small vs N, and against raw commits.

    The repetitions interleave the small log, the N log and the raw commit loop, so that a change in the
    machine's fsync latency during the run affects all three alike.
    """
    settings = session.settings
    deciders = {size: _Decider(session, size) for size in session.sizes}
    raw = session.target.raw()
    rows = 0

    def raw_op() -> int:
        nonlocal rows
        assert raw is not None
        raw.insert_one(DECIDED, history_payload(rows))
        rows += 1
        return 1

    for decider in deciders.values():
        warm_up(settings.warm_up_seconds, decider.operation)
    samples: dict[int, list[float]] = {size: [] for size in deciders}
    raw_samples: list[float] = []
    for _ in range(settings.repeat):
        for size, decider in deciders.items():
            samples[size].append(run_for(settings.duration, decider.operation).per_second)
        if raw is not None:
            raw_samples.append(run_for(settings.duration, raw_op).per_second)
    for decider in deciders.values():
        decider.check()
    rates = {size: median(values) for size, values in samples.items()}
    small, large = session.sizes
    ratio = rates[large] / rates[small]
    result = Result("B3", session.target.name)
    result.figure = f"{fmt_rate(rates[small])} ops/s @{small:,}; {fmt_rate(rates[large])} ops/s @{large:,}"
    result.ratio = f"@{large:,}/@{small:,} = {fmt_ratio(ratio)}"
    result.metrics = {
        "ops_per_second_small": rates[small],
        "ops_per_second_n": rates[large],
        "history_ratio": ratio,
    }
    result.target = "history ratio >= 0.8 (at 1M)"
    result.met = ratio >= 0.8
    if raw_samples:
        raw_rate = median(raw_samples)
        to_raw = rates[large] / raw_rate
        result.ratio += f"; {fmt_ratio(to_raw)} of raw commit loop ({raw_rate:,.0f}/s)"
        result.metrics.update(raw_commits_per_second=raw_rate, ratio_to_raw_commit=to_raw)
        if session.target.name == "postgres":
            result.target += "; >= 0.3 of raw commit loop"
            result.met = result.met and to_raw >= 0.3
    return result


class _Decider:
    """B3's single writer on one history: decides round-robin over the decision accounts."""

    def __init__(self, session: Session, size: int) -> None:
        self.store = session.history(size).store
        self.accounts = decision_accounts(size, session.settings.small)
        self.before = self.store.head() or 0
        self.done = 0

    def operation(self) -> int:
        check(decide(self.store, self.accounts[self.done % len(self.accounts)], 0), "B3: conflict with one writer")
        self.done += 1
        return 1

    def check(self) -> None:
        head = self.store.head()
        check(head == self.before + self.done, f"B3: head {head} after {self.done} decisions on {self.before}")


# --- B4 ----------------------------------------------------------------------------------------------------


def b4(session: Session) -> Result:
    """B4: B3 with several writers on disjoint contexts (threads; processes where the database is shared)."""
    settings = session.settings
    opened = session.history(settings.small)
    store = opened.store
    accounts = decision_accounts(settings.small, settings.small)
    writers = settings.writers
    modes = ["1 writer", f"{writers} threads"]
    if session.target.shares_database:
        modes.append(f"{writers} processes")
    samples: dict[str, list[float]] = {mode: [] for mode in modes}
    warm_up(settings.warm_up_seconds, lambda: decide(store, accounts[0], 0))
    for _ in range(settings.repeat):
        for mode in modes:
            before = store.head() or 0
            if mode.endswith("processes"):
                jobs = [
                    {
                        "kind": "decide",
                        "url": opened.url,
                        "options": opened.options,
                        "accounts": accounts[w::writers],
                        "writer": w + 1,
                        "duration": settings.duration,
                    }
                    for w in range(writers)
                ]
                _, results = run_together(jobs)
                per_writer = [(int(r["ops"]), int(r["conflicts"])) for r in results]
            else:
                count = 1 if mode == "1 writer" else writers
                per_writer = threads(
                    count,
                    functools.partial(_decide_writer, store, accounts, count),
                    settings.duration,
                )
            ops = sum(o for o, _ in per_writer)
            conflicts = sum(c for _, c in per_writer)
            check(conflicts == 0, f"B4 {mode}: {conflicts} conflicts on disjoint contexts (must be 0)")
            records = check_gapless(store, before, f"B4 {mode}")
            by_writer = Counter(record.payload["writer"] for record in records if record.event_type == DECIDED)
            check(
                len(records) == ops
                and [by_writer[w + 1] for w in range(len(per_writer))] == [o for o, _ in per_writer],
                f"B4 {mode}: {len(records)} new records, writers reported {per_writer}, log has {dict(by_writer)}",
            )
            samples[mode].append(ops / settings.duration)
    rates = {mode: median(values) for mode, values in samples.items()}
    one = rates["1 writer"]
    result = Result("B4", session.target.name)
    result.figure = "; ".join(f"{mode} {fmt_rate(rate)} ops/s" for mode, rate in rates.items())
    result.ratio = "; ".join(f"{mode} {rate / one:.2f}x" for mode, rate in rates.items() if mode != "1 writer")
    result.ratio += "; conflicts 0, gapless"
    result.metrics = {f"ops_per_second[{mode}]": rate for mode, rate in rates.items()}
    best = max(rate for mode, rate in rates.items() if mode != "1 writer") / one
    result.metrics["best_ratio_to_one_writer"] = best
    if session.target.name == "postgres":
        result.target = f"{writers} writers >= 3x one writer"
        result.met = best >= 3
    elif session.target.name == "sqlite":
        result.target = ">= 3x where group commit applies"
    else:
        result.target = "(no target; GIL-bound)"
    return result


def _decide_writer(
    store: EventStore, accounts: list[int], writers: int, index: int, deadline: float
) -> tuple[int, int]:
    return decide_until(store, accounts[index::writers], index + 1, deadline)


def _reserve_writer(
    store: EventStore, counter: str, limit: int, deadline: float, index: int, _deadline: float
) -> tuple[int, int]:
    return reserve_until(store, counter, limit, index + 1, deadline)


def threads(count: int, work: Callable[[int, float], tuple[int, int]], duration: float) -> list[tuple[int, int]]:
    """Run ``work(index, deadline)`` in ``count`` threads started together (the deadline ``duration`` after
    the start); return their (ops, conflicts)."""
    results: list[tuple[int, int]] = [(0, 0)] * count
    errors: list[BaseException] = []
    barrier = threading.Barrier(count + 1)
    deadline_box: list[float] = []

    def run(w: int) -> None:
        try:
            barrier.wait()
            results[w] = work(w, deadline_box[0])
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=run, args=(w,), name=f"bench-writer-{w}") for w in range(count)]
    for thread in pool:
        thread.start()
    deadline_box.append(time.time() + duration)
    barrier.wait()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return results


# --- B4c ---------------------------------------------------------------------------------------------------


def b4c(session: Session) -> Result:
    """B4c: several writers reserve seats on one shared counter; it must end exactly at its limit."""
    settings = session.settings
    opened = session.history(settings.small)
    store = opened.store
    writers = settings.writers
    limit = settings.counter_limit
    modes = [f"{writers} threads"]
    if session.target.shares_database:
        modes.append(f"{writers} processes")
    figures: dict[str, list[tuple[float, int, int]]] = {mode: [] for mode in modes}
    # A slow store may not fill the counter in time: the invariant is then checked on what it reached.
    budget = max(10.0, settings.duration * 5)
    for repetition in range(settings.repeat):
        for mode in modes:
            counter = f"counter-{mode.split()[1]}-{repetition}-{time.time_ns()}"
            if mode.endswith("processes"):
                jobs = [
                    {
                        "kind": "reserve",
                        "url": opened.url,
                        "options": opened.options,
                        "counter": counter,
                        "limit": limit,
                        "writer": w + 1,
                        "duration": budget,
                    }
                    for w in range(writers)
                ]
                started, results = run_together(jobs)
                elapsed = max(float(r["finished_at"]) for r in results) - started
                per_writer = [(int(r["ops"]), int(r["conflicts"])) for r in results]
            else:
                started = time.time()
                per_writer = threads(
                    writers,
                    functools.partial(_reserve_writer, store, counter, limit, started + budget),
                    0,
                )
                elapsed = time.time() - started
            reached = _check_counter(store, counter, limit, per_writer, mode)
            conflicts = sum(c for _, c in per_writer)
            figures[mode].append((reached / elapsed, conflicts, reached))
    result = Result("B4c", session.target.name)
    parts = []
    for mode, values in figures.items():
        rate = median([v[0] for v in values])
        conflicts = int(median([float(v[1]) for v in values]))
        parts.append(f"{mode} {fmt_rate(rate)} ops/s, {conflicts} conflicts")
        result.metrics[f"ops_per_second[{mode}]"] = rate
        result.metrics[f"conflicts[{mode}]"] = conflicts
    result.figure = "; ".join(parts)
    reached = min(v[2] for values in figures.values() for v in values)
    if reached == limit:
        result.ratio = f"invariant held: the counter ended at exactly its limit {limit}, seats 1..{limit} once each"
    else:
        result.ratio = (
            f"invariant held, but the limit {limit} was not always reached within {budget:.0f} s "
            f"(lowest: {reached}); seats 1..n once each"
        )
    result.metrics["lowest_count_reached"] = reached
    result.target = "invariant never broken"
    result.met = True
    return result


def _check_counter(store: EventStore, counter: str, limit: int, per_writer: list[tuple[int, int]], mode: str) -> int:
    """Check the counter's invariant (never past the limit, each seat once); return how far it got."""
    records = store.query(counter_query(counter)).event_records
    seats = sorted(int(record.payload["seat"]) for record in records)
    check(
        len(records) <= limit,
        f"B4c {mode}: INVARIANT BROKEN: {len(records)} reservations on a counter limited to {limit}",
    )
    check(
        seats == list(range(1, len(seats) + 1)),
        f"B4c {mode}: seats should be exactly 1..{len(seats)} once each; got {len(seats)} seats, "
        f"duplicates {sorted(s for s, n in Counter(seats).items() if n > 1)[:10]}",
    )
    check(
        sum(o for o, _ in per_writer) == len(records) and all(r.event_type == RESERVED for r in records),
        f"B4c {mode}: writers reported {sum(o for o, _ in per_writer)} reservations, the log holds {len(records)}",
    )
    return len(records)
