"""The events the scenarios write and the queries they run, and filling a log with a progress display.

History event ``i`` (0-based, sequence number ``i + 1``) has type ``TYPES[i % 4]`` and a payload of about
200 bytes of JSON with an ``account`` shared by 8 consecutive events (the decision contexts of B3/B4) and a
``bucket`` in ``0..999`` (``i % 1000``: the selective queries of B5 match 0.1% of the history each).
"""

from __future__ import annotations

import sys
import time

import msgspec

from factstr import EventFilter, EventQuery, EventStore, NewEvent

from .model import BenchFailure

TYPES = ("OrderPlaced", "PaymentReceived", "ItemShipped", "OrderClosed")
DECIDED = "DecisionMade"
RESERVED = "SeatReserved"
CONTEXT_SIZE = 8
BUCKETS = 1000
FILL_BATCH = 1000
_NOTE = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt"

JSONObject = dict[str, object]


def account_key(account: int) -> str:
    return f"acct-{account:08d}"


def history_payload(i: int) -> JSONObject:
    return {
        "account": account_key(i // CONTEXT_SIZE),
        "bucket": i % BUCKETS,
        "amount": (i * 7919) % 100_000,
        "currency": "EUR",
        "reference": f"ref-{i:012d}",
        "note": _NOTE,
    }


def history_event(i: int) -> NewEvent:
    return NewEvent(TYPES[i % len(TYPES)], history_payload(i))


def accounts_in(history: int) -> int:
    """How many complete decision contexts a history of ``history`` events holds."""
    return history // CONTEXT_SIZE


def account_query(account: int) -> EventQuery:
    """The decision context of B3/B4: every event of one account (types + payload predicate)."""
    return EventQuery(
        filters=[EventFilter(event_types=[*TYPES, DECIDED], payload_predicates=[{"account": account_key(account)}])]
    )


def decided_event(account: int, writer: int, seen: int) -> NewEvent:
    return NewEvent(
        DECIDED,
        {
            "account": account_key(account),
            "writer": writer,
            "seen": seen,
            "decision": "approve",
            "reference": f"dec-{account:08d}-{writer:03d}",
            "note": _NOTE,
        },
    )


def bucket_query(bucket: int) -> EventQuery:
    """B5's selective query: one event type and one payload predicate, about 0.1% of the history."""
    return EventQuery(
        filters=[EventFilter(event_types=[TYPES[bucket % len(TYPES)]], payload_predicates=[{"bucket": bucket}])]
    )


def expected_bucket_count(bucket: int, history: int) -> int:
    return len(range(bucket, history, BUCKETS))


def counter_query(counter: str) -> EventQuery:
    """B4c's shared context: every reservation against one counter."""
    return EventQuery(filters=[EventFilter(event_types=[RESERVED], payload_predicates=[{"counter": counter}])])


def reserved_event(counter: str, writer: int, seat: int) -> NewEvent:
    return NewEvent(
        RESERVED,
        {
            "counter": counter,
            "writer": writer,
            "seat": seat,
            "reference": f"r-{writer}-{seat}",
            "note": _NOTE,
        },
    )


def latency_event(sent_at: float, index: int) -> NewEvent:
    """B7: the event carries the wall-clock time (``time.time()``) taken just before ``append``."""
    return NewEvent(
        "LatencyProbe", {"sent_at": sent_at, "index": index, "reference": f"probe-{index:08d}", "note": _NOTE}
    )


def mean_payload_bytes() -> float:
    """The mean size of a history payload as compact JSON."""
    sizes = [len(msgspec.json.encode(history_payload(i))) for i in range(0, 100_000, 97)]
    return sum(sizes) / len(sizes)


def fill(store: EventStore, count: int, label: str, *, batch: int = FILL_BATCH, quiet: bool = False) -> float:
    """Append history events up to ``count`` (continuing after the current head) and return the seconds taken.

    Shows progress on stderr: a live counter on a terminal, a line per quarter otherwise.
    """
    start_index = store.head() or 0
    progress = _Progress(label, count - start_index, quiet=quiet)
    started = time.perf_counter()
    i = start_index
    while i < count:
        upto = min(count, i + batch)
        result = store.append([history_event(j) for j in range(i, upto)])
        if result.first_sequence_number != i + 1 or result.last_sequence_number != upto:
            raise BenchFailure(
                f"fill {label}: appended events {i + 1}..{upto} but got sequence numbers "
                f"{result.first_sequence_number}..{result.last_sequence_number}"
            )
        i = upto
        progress.update(i - start_index)
    elapsed = time.perf_counter() - started
    progress.done(elapsed)
    return elapsed


class _Progress:
    def __init__(self, label: str, total: int, *, quiet: bool) -> None:
        self._label = label
        self._total = total
        self._quiet = quiet or total <= 0
        self._tty = sys.stderr.isatty()
        self._started = time.perf_counter()
        self._last_shown = 0.0
        self._next_quarter = 1

    def update(self, done: int) -> None:
        if self._quiet:
            return
        now = time.perf_counter()
        if self._tty:
            if now - self._last_shown >= 0.2:
                self._last_shown = now
                rate = done / max(now - self._started, 1e-9)
                sys.stderr.write(f"\r  filling {self._label}: {done:,}/{self._total:,} events ({rate:,.0f}/s)  ")
                sys.stderr.flush()
        elif done * 4 >= self._next_quarter * self._total and self._next_quarter < 4:
            self._next_quarter += 1
            sys.stderr.write(f"  filling {self._label}: {done:,}/{self._total:,} events\n")

    def done(self, elapsed: float) -> None:
        if self._quiet:
            return
        rate = self._total / max(elapsed, 1e-9)
        end = "\r" if self._tty else ""
        sys.stderr.write(
            f"{end}  filled {self._label}: {self._total:,} events in {elapsed:.1f} s ({rate:,.0f}/s)" + " " * 10 + "\n"
        )
