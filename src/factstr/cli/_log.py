"""``factstr append``, ``query`` and ``tail``: writing and reading the log from the shell."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

import msgspec

from .._model import EventFilter, EventQuery, EventRecord, NewEvent
from .._validation import DEFAULT_MAX_PAYLOAD_BYTES, check_events
from .._wire import records_to_wire
from ._output import CommandError, print_json, say
from ._stores import open_store


def json_argument(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{what} is not JSON: {exc}") from exc


def _events_from_lines(lines: Iterable[str]) -> list[NewEvent]:
    events = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        item = json_argument(line, f"line {number}")
        if not isinstance(item, dict) or set(item) - {"event_type", "payload"} or "event_type" not in item:
            raise CommandError(f'line {number} must be {{"event_type": ..., "payload": ...}}')
        events.append(NewEvent(item["event_type"], item.get("payload")))
    return events


def cmd_append(args: argparse.Namespace) -> int:
    if args.event_type is not None:
        payload = {} if args.payload is None else json_argument(args.payload, "the payload")
        events = [NewEvent(args.event_type, payload)]
    else:
        if sys.stdin.isatty():
            # Without this a bare `factstr append` looks like a hang.
            say(
                "append",
                'reading events from standard input, one {"event_type": ..., "payload": ...} per line; '
                "end with Ctrl-D (or give EVENT_TYPE [PAYLOAD] as arguments)",
            )
        events = _events_from_lines(sys.stdin)
        if not events:
            raise CommandError("no events on standard input: nothing was appended")
    # The events are checked before the store is opened: bad input creates no store.
    check_events(events, DEFAULT_MAX_PAYLOAD_BYTES)
    store, created = open_store(args, may_create=True)
    with store:
        if created:
            say("append", f"created a new store at {args.store}")
        result = store.append(events)
    print_json(
        {
            "first_sequence_number": result.first_sequence_number,
            "last_sequence_number": result.last_sequence_number,
            "committed_count": result.committed_count,
        }
    )
    return 0


def query_from_args(args: argparse.Namespace) -> EventQuery:
    if args.query is not None:
        return msgspec.convert(json_argument(args.query, "--query"), EventQuery)
    predicates = [json_argument(text, "--predicate") for text in args.predicate or []]
    filters = None
    if args.type or predicates:
        filters = [EventFilter(event_types=args.type or None, payload_predicates=predicates or None)]
    return EventQuery(filters=filters)


def cmd_query(args: argparse.Namespace) -> int:
    base = query_from_args(args)
    query = EventQuery(
        filters=base.filters,
        min_sequence_number=args.after if args.after is not None else base.min_sequence_number,
        limit=args.limit if args.limit is not None else base.limit,
        backwards=args.backwards or base.backwards,
    )
    store, _ = open_store(args)
    with store:
        result = store.query(query)
    if args.result:
        print_json(
            {
                "event_records": records_to_wire(result.event_records),
                "last_returned_sequence_number": result.last_returned_sequence_number,
                "current_context_version": result.current_context_version,
            }
        )
    else:
        for record in result.event_records:
            print_json(records_to_wire([record])[0])
    return 0


def _start_argument(text: str | None) -> Any:
    if text is None:
        return None
    return int(text) if text.isascii() and text.isdigit() else text


def cmd_tail(args: argparse.Namespace) -> int:
    query = query_from_args(args)
    lock = threading.Lock()
    batches = 0
    finished = threading.Event()
    out = sys.stdout

    def handler(batch: list[EventRecord]) -> None:
        nonlocal batches
        with lock:
            for record in batch:
                print_json(records_to_wire([record])[0], out)
            out.flush()
            batches += 1
            if args.count is not None and batches >= args.count:
                finished.set()

    start = _start_argument(args.start)
    store, _ = open_store(args)
    with store:
        if args.durable:
            stream = store.stream_to_durable(
                args.durable, query, handler, start="beginning" if start is None else start
            )
        else:
            stream = store.stream_to(query, handler, start="end" if start is None else start)
        with stream, suppress(KeyboardInterrupt):
            finished.wait(args.seconds)
    return 0
