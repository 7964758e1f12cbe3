"""``factstr verify`` and ``factstr stats``: check and summarise a log through the public contract only."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from .._model import EventFilter, EventQuery, EventRecord
from .._store import EventStore
from .._wire import format_occurred_at
from ._output import CommandError, print_json, replay
from ._stores import open_store


def cmd_verify(args: argparse.Namespace) -> int:
    problems: list[str] = []
    checked = 0
    store, _ = open_store(args)
    with store:
        expected_next = 1
        page_after = 0

        def check_batch(batch: list[EventRecord]) -> None:
            nonlocal expected_next, page_after, checked
            numbers = [r.sequence_number for r in batch]
            if numbers[0] != expected_next:
                problems.append(f"gap or reordering: expected {expected_next}, the next batch starts at {numbers[0]}")
            if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
                problems.append(f"batch starting at {numbers[0]} is not consecutive: {numbers}")
            if len({r.occurred_at for r in batch}) != 1:
                problems.append(f"batch starting at {numbers[0]} has more than one occurred_at")
            expected_next = numbers[-1] + 1
            # The same records must come back from a plain query (the log read through its main index).
            page = store.query(EventQuery(min_sequence_number=page_after, limit=len(batch))).event_records
            if page != batch:
                problems.append(f"query and stream disagree on the batch starting at {numbers[0]}")
            page_after = numbers[-1]
            for record in batch:
                if checked < args.max_index_checks:
                    checked += 1
                    problems.extend(_index_problems(store, record))
            if len(problems) > 100:
                raise CommandError("more than 100 problems; stopping")

        head = replay(store, check_batch, "verify")
        if head and expected_next != head + 1:
            problems.append(f"the log ends at {expected_next - 1}, but the head is {head}")
    for problem in problems:
        sys.stderr.write(f"problem: {problem}\n")
    print_json({"head": head or None, "index_checks": checked, "problems": len(problems), "ok": not problems})
    return 1 if problems else 0


def _index_problems(store: EventStore, record: EventRecord) -> list[str]:
    """Check that the type and payload indexes find ``record`` (its payload is a subset of itself)."""
    after = record.sequence_number - 1
    problems = []
    probes = {
        "event type": EventFilter(event_types=[record.event_type]),
        "payload": EventFilter(payload_predicates=[record.payload]),
    }
    for what, flt in probes.items():
        found = store.query(EventQuery(filters=[flt], min_sequence_number=after, limit=1)).event_records
        if not found or found[0].sequence_number != record.sequence_number:
            problems.append(f"the {what} index does not find event {record.sequence_number}")
    return problems


def cmd_stats(args: argparse.Namespace) -> int:
    types: dict[str, int] = {}
    batches = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    largest = 0

    def count(batch: list[EventRecord]) -> None:
        nonlocal batches, first_at, last_at, largest
        batches += 1
        largest = max(largest, len(batch))
        first_at = first_at or batch[0].occurred_at
        last_at = batch[0].occurred_at
        for record in batch:
            types[record.event_type] = types.get(record.event_type, 0) + 1

    store, _ = open_store(args)
    with store:
        head = replay(store, count, "stats")
        cursors = store.durable_streams()
    print_json(
        {
            "head": head or None,
            "events": sum(types.values()),
            "batches": batches,
            "largest_batch": largest,
            "event_types": dict(sorted(types.items())),
            "first_occurred_at": None if first_at is None else format_occurred_at(first_at),
            "last_occurred_at": None if last_at is None else format_occurred_at(last_at),
            "durable_streams": len(cursors),
            "max_lag": max((info.lag for info in cursors), default=0),
        }
    )
    return 0
