"""B1-B7 side by side: FACTSTR's stores, the peers (UmaDB, eventsourcing) and the raw databases, in one run.

Every group of rows runs in interleaved rounds (``bench.interleave``); every system does the same work with
the same meaning (``bench.systems``, ``bench.side_ops``) and every scenario checks what came back. The groups
run in this order, so that the read-only ones see the histories exactly as filled:

fill  -- the N history filled in appends of 1000 events, one chunk of N/rounds per round (the 10k history
         is filled first, untimed); raw: the same rows in 1000-row transactions.
B1/B2 -- appends of 1 event / 100 events to a fresh log; raw: INSERT+COMMIT / a 100-row transaction.
B7    -- append -> live follower latency, in-process and from another process.
B5    -- selective query (one type + one bucket: 0.1% of the log) p50/p99 at 10k and N; raw: indexed lookup.
B6    -- the whole N log read in pages of 1000; raw: the same pages of a plain table.
B3    -- read a context, append one decision on the position the read returned, at 10k and at N; raw: the
         INSERT+COMMIT loop (one durable commit per operation).
B4    -- B3 with W writers on disjoint contexts, threads and processes: conflicts must be 0, gapless.
B4c   -- W writers reserving seats on one shared counter: the counter never passes its limit.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from .data import BUCKETS, TYPES, expected_bucket_count, history_event, history_payload, latency_event
from .interleave import Participant, Row, SideRun, describe, run_group
from .model import BenchFailure, Settings, check
from .procs import run_together
from .raw import RawDatabase
from .side_ops import (
    PAGE,
    bucket_selector,
    check_counter,
    check_writers,
    decide,
    decide_until,
    fill_log,
    reserve_until,
)
from .stats import percentile, run_for, warm_up
from .systems import Deliveries, Log, System
from .writes import decision_accounts, threads

FILL_BATCH = 1000
BATCH = 100
PROBE_INTERVAL = 0.01
WAIT_SECONDS = 30.0

T = TypeVar("T")

GROUP_ORDER = ("fill", "B1", "B2", "B7", "B5", "B6", "B3", "B4", "B4c")


def _k(size: int) -> str:
    return f"{size // 1000:,}k" if size >= 1000 and size % 1000 == 0 else f"{size:,}"


@dataclass
class Raw:
    """A raw database column: plain sqlite3 / psycopg doing the minimal work, on one FACTSTR store's settings."""

    column: str
    store: str
    database: RawDatabase


@dataclass
class Lineup:
    """The columns of a run and the logs they share between groups."""

    settings: Settings
    systems: list[System]
    raws: list[Raw]
    run: SideRun
    histories: dict[tuple[str, int], Log] = field(default_factory=dict)

    @property
    def sizes(self) -> tuple[int, int]:
        return self.settings.small, self.settings.events

    def participants(
        self,
        rows: Sequence[Row],
        make: Callable[[System], Participant | None],
        make_raw: Callable[[Raw], Participant | None] | None = None,
    ) -> list[Participant]:
        """Set up each column's participant; a column whose set-up fails gets FAILED cells, None means n/a."""
        result: list[Participant] = []
        candidates: list[tuple[str, Callable[[], Participant | None]]] = [
            (system.name, functools.partial(make, system)) for system in self.systems
        ]
        if make_raw is not None:
            candidates += [(raw.column, functools.partial(make_raw, raw)) for raw in self.raws]
        for column, build in candidates:
            try:
                participant = build()
            except Exception as exc:
                self.run.mark(rows, column, "FAILED", "set-up: " + describe(exc))
                continue
            if participant is None:
                self.run.mark(rows, column, "n/a", "")
            else:
                result.append(participant)
        return result

    def group(
        self,
        title: str,
        rows: Sequence[Row],
        make: Callable[[System], Participant | None],
        make_raw: Callable[[Raw], Participant | None] | None = None,
    ) -> None:
        self.run.say(f"[side] {title} ...")
        self.run.add_rows(rows)
        participants = self.participants(rows, make, make_raw)
        run_group(self.run, title, rows, participants, self.settings.repeat)

    def history(self, system: System, size: int) -> Log:
        log = self.histories.get((system.name, size))
        if log is None:
            raise BenchFailure(f"{system.name} has no history of {size:,} events (its fill failed)")
        return log


def run_side(lineup: Lineup, groups: Sequence[str]) -> None:
    """Run the chosen groups in :data:`GROUP_ORDER` (the fill always runs: every other group reads from it)."""
    for name in GROUP_ORDER:
        if name == "fill" or name in groups:
            _GROUPS[name](lineup)


# --- fill ------------------------------------------------------------------------------------------------


def fill_group(lineup: Lineup) -> None:
    small, large = lineup.sizes
    rounds = lineup.settings.repeat
    row = Row("fill", f"fill a {_k(large)} history in {FILL_BATCH}-event appends", "events/s")
    chunks = [(large * r // rounds, large * (r + 1) // rounds) for r in range(rounds)]

    def make(system: System) -> Participant:
        lineup.histories[(system.name, small)] = small_log = system.open(f"history-{small}")
        fill_log(small_log, 0, small)
        log = system.open(f"history-{large}")
        lineup.histories[(system.name, large)] = log
        done = iter(chunks)

        def measure() -> dict[str, float]:
            start, stop = next(done)
            started = time.perf_counter()
            fill_log(log, start, stop)
            return {row.key: (stop - start) / (time.perf_counter() - started)}

        def final() -> None:
            for size, filled in ((small, small_log), (large, log)):
                check(filled.head() == size, f"{system.name}: the {size:,} history ends at {filled.head()}")

        return Participant(system.name, measure, final)

    def make_raw(raw: Raw) -> Participant:
        done = iter(chunks)

        def measure() -> dict[str, float]:
            start, stop = next(done)
            started = time.perf_counter()
            for i in range(start, stop, FILL_BATCH):
                raw.database.insert_batch(
                    [(TYPES[j % len(TYPES)], history_payload(j)) for j in range(i, min(stop, i + FILL_BATCH))]
                )
            return {row.key: (stop - start) / (time.perf_counter() - started)}

        return Participant(raw.column, measure)

    lineup.group("fill", [row], make, make_raw)


# --- B1, B2 ----------------------------------------------------------------------------------------------


def b1_group(lineup: Lineup) -> None:
    _appends(lineup, Row("B1", "B1 append 1 event", "events/s"), 1)


def b2_group(lineup: Lineup) -> None:
    _appends(lineup, Row("B2", f"B2 append {BATCH}-event batches", "events/s"), BATCH)


def _appends(lineup: Lineup, row: Row, size: int) -> None:
    settings = lineup.settings

    def make(system: System) -> Participant:
        log = system.open(f"{row.key.lower()}-appends")
        appended = 0

        def op() -> int:
            nonlocal appended
            last = log.append([history_event(appended + j) for j in range(size)])
            check(
                last == appended + size,
                f"{row.key}: append #{appended // size + 1} of {size} ended at position {last}, "
                f"expected {appended + size}",
            )
            appended += size
            return size

        warm_up(settings.warm_up_seconds, op)

        def final() -> None:
            check(log.head() == appended, f"{row.key}: head is {log.head()} after {appended} appended events")

        return Participant(system.name, lambda: {row.key: run_for(settings.duration, op).per_second}, final, log.close)

    def make_raw(raw: Raw) -> Participant:
        rows = 0

        def op() -> int:
            nonlocal rows
            if size == 1:
                raw.database.insert_one("OrderPlaced", history_payload(rows))
            else:
                raw.database.insert_batch([("OrderPlaced", history_payload(rows + j)) for j in range(size)])
            rows += size
            return size

        warm_up(settings.warm_up_seconds, op)
        return Participant(raw.column, lambda: {row.key: run_for(settings.duration, op).per_second})

    lineup.group(row.key, [row], make, make_raw)


# --- B7 --------------------------------------------------------------------------------------------------


def b7_group(lineup: Lineup) -> None:
    settings = lineup.settings
    rows = [
        Row("B7 local p50", "B7 append -> live follower, same process, p50", "ms", lower_is_better=True),
        Row("B7 local p99", "B7 append -> live follower, same process, p99", "ms", lower_is_better=True),
        Row("B7 remote p50", "B7 append in another process -> live follower, p50", "ms", lower_is_better=True),
        Row("B7 remote p99", "B7 append in another process -> live follower, p99", "ms", lower_is_better=True),
    ]

    def make(system: System) -> Participant:
        log = system.open("b7-latency")
        deliveries = Deliveries(time.time)
        following = log.follow(deliveries)
        sent = 0

        def probe() -> None:
            nonlocal sent
            last = log.append([latency_event(time.time(), sent)])
            sent += 1
            check(
                deliveries.wait_for(last, WAIT_SECONDS),
                f"B7: position {last} did not reach the follower in {WAIT_SECONDS:.0f} s "
                f"(failure: {getattr(following, 'failure', None)!r})",
            )

        # The follower is live once it delivers: wait for a first event before measuring anything.
        probe()
        warm_up(settings.warm_up_seconds, probe)
        deliveries.take()

        def latencies(expected: int) -> list[float]:
            taken = deliveries.take()
            check(len(taken) == expected, f"B7: the follower got {len(taken)} events of {expected} appended")
            check(not deliveries.out_of_order, f"B7: delivered out of order: {deliveries.out_of_order[:5]}")
            return [(arrived - float(record.payload["sent_at"])) * 1e3 for record, arrived in taken]

        def measure() -> dict[str, float]:
            count = 0
            deadline = time.perf_counter() + settings.duration
            while time.perf_counter() < deadline or count < 5:
                probe()
                count += 1
            local = latencies(count)
            values = {rows[0].key: percentile(local, 50), rows[1].key: percentile(local, 99)}
            if log.spec is not None and system.shared:
                probes = max(10, int(settings.duration / PROBE_INTERVAL))
                job = {"kind": "log-probe", "log": log.spec, "count": probes, "interval": PROBE_INTERVAL}
                _, (result,) = run_together([job])
                last = int(result["last_sequence_number"])
                check(
                    deliveries.wait_for(last, WAIT_SECONDS),
                    f"B7: events appended by another process did not reach the follower in {WAIT_SECONDS:.0f} s",
                )
                remote = latencies(probes)
                values.update({rows[2].key: percentile(remote, 50), rows[3].key: percentile(remote, 99)})
            return values

        def close() -> None:
            try:
                following.stop()
            finally:
                log.close()

        if not system.shared:
            lineup.run.mark(rows[2:], system.name, "n/a", "")
        return Participant(system.name, measure, None, close)

    lineup.group("B7", rows, make)


# --- B5, B6 ----------------------------------------------------------------------------------------------


def b5_group(lineup: Lineup) -> None:
    settings = lineup.settings
    small, large = lineup.sizes
    rows = [
        Row("B5 p50 small", f"B5 selective query (0.1%) p50 @{_k(small)}", "ms", lower_is_better=True),
        Row("B5 p50 N", f"B5 selective query (0.1%) p50 @{_k(large)}", "ms", lower_is_better=True),
        Row("B5 p99 N", f"B5 selective query (0.1%) p99 @{_k(large)}", "ms", lower_is_better=True),
    ]

    def timed(query: Callable[[int, int], None]) -> dict[str, float]:
        values: dict[str, float] = {}
        for size, p50_key, p99_key in ((small, rows[0].key, None), (large, rows[1].key, rows[2].key)):
            buckets = random.Random(size)
            samples: list[float] = []
            deadline = time.perf_counter() + settings.duration
            while time.perf_counter() < deadline or len(samples) < 5:
                bucket = buckets.randrange(BUCKETS)
                started = time.perf_counter()
                query(size, bucket)
                samples.append((time.perf_counter() - started) * 1e3)
            values[p50_key] = percentile(samples, 50)
            if p99_key is not None:
                values[p99_key] = percentile(samples, 99)
        return values

    def make(system: System) -> Participant:
        logs = {size: lineup.history(system, size) for size in lineup.sizes}

        def query(size: int, bucket: int) -> None:
            records, _ = logs[size].read(bucket_selector(bucket))
            expected = [i + 1 for i in range(bucket, size, BUCKETS)]
            numbers = [record.sequence_number for record in records]
            check(
                numbers == expected and all(record.payload["bucket"] == bucket for record in records),
                f"B5 @{size}: bucket {bucket} returned {len(numbers)} records (first {numbers[:5]}), "
                f"expected {len(expected)} (first {expected[:5]})",
            )

        warm_up(settings.warm_up_seconds, lambda: query(small, 0))
        return Participant(system.name, lambda: timed(query))

    def make_raw(raw: Raw) -> Participant:
        for size in lineup.sizes:
            raw.database.fill_lookup(size)

        def query(size: int, bucket: int) -> None:
            count = raw.database.lookup(TYPES[bucket % len(TYPES)], bucket, size)
            check(count == expected_bucket_count(bucket, size), f"raw lookup of bucket {bucket}: {count} rows")

        return Participant(raw.column, lambda: timed(query))

    lineup.group("B5", rows, make, make_raw)


def b6_group(lineup: Lineup) -> None:
    large = lineup.settings.events
    row = Row("B6", f"B6 read the {_k(large)} log in pages of {PAGE}", "events/s")

    def read_all(page: Callable[[int], Sequence[T]], position_of: Callable[[T], int]) -> float:
        started = time.perf_counter()
        count = 0
        position = 0
        while True:
            records = page(position)
            if not records:
                break
            first, last = position_of(records[0]), position_of(records[-1])
            check(
                first == position + 1 and last == position + len(records),
                f"B6: the page after {position} holds {first}..{last}",
            )
            count += len(records)
            position = last
        elapsed = time.perf_counter() - started
        check(count == large, f"B6: read {count} events, the log holds {large}")
        return count / elapsed

    def make(system: System) -> Participant:
        log = lineup.history(system, large)
        return Participant(
            system.name,
            lambda: {row.key: read_all(lambda after: log.page(after, PAGE), lambda record: record.sequence_number)},
        )

    def make_raw(raw: Raw) -> Participant:
        return Participant(
            raw.column,
            lambda: {
                row.key: read_all(lambda after: raw.database.page(large, after, PAGE), lambda raw_row: int(raw_row[0]))
            },
        )

    lineup.group("B6", [row], make, make_raw)


# --- B3, B4, B4c -----------------------------------------------------------------------------------------


def b3_group(lineup: Lineup) -> None:
    settings = lineup.settings
    small, large = lineup.sizes
    rows = [
        Row("B3 small", f"B3 read-decide-append @{_k(small)}", "ops/s"),
        Row("B3 N", f"B3 read-decide-append @{_k(large)}", "ops/s"),
    ]

    def make(system: System) -> Participant:
        deciders = {
            size: _Decider(lineup.history(system, size), decision_accounts(size, small)) for size in (small, large)
        }
        for decider in deciders.values():
            warm_up(settings.warm_up_seconds, decider.operation)

        def measure() -> dict[str, float]:
            return {
                rows[0].key: run_for(settings.duration, deciders[small].operation).per_second,
                rows[1].key: run_for(settings.duration, deciders[large].operation).per_second,
            }

        def final() -> None:
            for decider in deciders.values():
                decider.check()

        return Participant(system.name, measure, final)

    def make_raw(raw: Raw) -> Participant:
        rows_written = 0

        def op() -> int:
            nonlocal rows_written
            raw.database.insert_one("DecisionMade", history_payload(rows_written))
            rows_written += 1
            return 1

        def measure() -> dict[str, float]:
            return {row.key: run_for(settings.duration, op).per_second for row in rows}

        return Participant(raw.column, measure)

    lineup.group("B3", rows, make, make_raw)


class _Decider:
    """B3's single writer on one history: decides round-robin over the decision accounts."""

    def __init__(self, log: Log, accounts: list[int]) -> None:
        self.log = log
        self.accounts = accounts
        self.before = log.head()
        self.done = 0

    def operation(self) -> int:
        check(decide(self.log, self.accounts[self.done % len(self.accounts)], 0), "B3: a conflict with one writer")
        self.done += 1
        return 1

    def check(self) -> None:
        head = self.log.head()
        check(head == self.before + self.done, f"B3: head {head} after {self.done} decisions on {self.before}")


def b4_group(lineup: Lineup) -> None:
    settings = lineup.settings
    small = settings.small
    writers = settings.writers
    accounts = decision_accounts(small, small)
    rows = [
        Row("B4 threads", f"B4 {writers} writer threads, disjoint contexts", "ops/s"),
        Row("B4 processes", f"B4 {writers} writer processes, disjoint contexts", "ops/s"),
    ]

    def make(system: System) -> Participant:
        log = lineup.history(system, small)
        warm_up(settings.warm_up_seconds, lambda: decide(log, accounts[0], 0))
        shared = system.shared and log.spec is not None
        if not shared:
            lineup.run.mark(rows[1:], system.name, "n/a", "")

        def measure() -> dict[str, float]:
            values: dict[str, float] = {}
            before = log.head()
            per_writer = threads(
                writers, lambda w, deadline: decide_until(log, accounts[w::writers], w + 1, deadline), settings.duration
            )
            _disjoint(log, before, per_writer, "B4 threads")
            values[rows[0].key] = sum(o for o, _ in per_writer) / settings.duration
            if shared:
                before = log.head()
                jobs = [
                    {
                        "kind": "log-decide",
                        "log": log.spec,
                        "accounts": accounts[w::writers],
                        "writer": w + 1,
                        "duration": settings.duration,
                    }
                    for w in range(writers)
                ]
                _, results = run_together(jobs)
                per_writer = [(int(r["ops"]), int(r["conflicts"])) for r in results]
                _disjoint(log, before, per_writer, "B4 processes")
                values[rows[1].key] = sum(o for o, _ in per_writer) / settings.duration
            return values

        return Participant(system.name, measure)

    lineup.group("B4", rows, make)


def _disjoint(log: Log, before: int, per_writer: list[tuple[int, int]], label: str) -> None:
    conflicts = sum(c for _, c in per_writer)
    check(conflicts == 0, f"{label}: {conflicts} conflicts on disjoint contexts (must be 0)")
    check_writers(log, before, per_writer, label)


def b4c_group(lineup: Lineup) -> None:
    settings = lineup.settings
    writers = settings.writers
    limit = settings.counter_limit
    budget = max(10.0, settings.duration * 5)
    rows = [
        Row("B4c threads", f"B4c {writers} threads reserve {limit} seats on one counter", "reservations/s"),
        Row("B4c threads conflicts", "  conflicts (threads)", "conflicts", lower_is_better=True, compared=False),
        Row("B4c processes", f"B4c {writers} processes reserve {limit} seats on one counter", "reservations/s"),
        Row("B4c processes conflicts", "  conflicts (processes)", "conflicts", lower_is_better=True, compared=False),
    ]
    lowest: dict[str, int] = {}

    def make(system: System) -> Participant:
        log = lineup.history(system, settings.small)
        shared = system.shared and log.spec is not None
        if not shared:
            lineup.run.mark(rows[2:], system.name, "n/a", "")
        repetition = 0

        def measure() -> dict[str, float]:
            nonlocal repetition
            repetition += 1
            values: dict[str, float] = {}
            for mode in ("threads", "processes") if shared else ("threads",):
                counter = f"counter-{mode}-{repetition}-{time.time_ns()}"
                started = time.time()
                if mode == "threads":
                    per_writer = threads(writers, functools.partial(_reserver, log, counter, limit), budget)
                    elapsed = time.time() - started
                else:
                    jobs = [
                        {
                            "kind": "log-reserve",
                            "log": log.spec,
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
                reached = check_counter(log, counter, limit, per_writer, f"B4c {mode}")
                lowest[system.name] = min(lowest.get(system.name, limit), reached)
                values[f"B4c {mode}"] = reached / elapsed
                values[f"B4c {mode} conflicts"] = float(sum(c for _, c in per_writer))
            return values

        return Participant(system.name, measure)

    lineup.group("B4c", rows, make)
    short = {name: reached for name, reached in lowest.items() if reached < limit}
    lineup.run.notes.append(
        f"B4c: the counter never passed its limit of {limit} and held seats 1..n once each on every system"
        + (
            f"; within {budget:.0f} s some runs stopped short of the limit: "
            + ", ".join(f"{name} reached {reached}" for name, reached in short.items())
            if short
            else "; every run filled it exactly"
        )
        + "."
    )


def _reserver(log: Log, counter: str, limit: int, index: int, deadline: float) -> tuple[int, int]:
    return reserve_until(log, counter, limit, index + 1, deadline)


_GROUPS: dict[str, Callable[[Lineup], None]] = {
    "fill": fill_group,
    "B1": b1_group,
    "B2": b2_group,
    "B7": b7_group,
    "B5": b5_group,
    "B6": b6_group,
    "B3": b3_group,
    "B4": b4_group,
    "B4c": b4c_group,
}
