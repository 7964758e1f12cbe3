"""The ``factstr`` command: serve a store over HTTP, and look after a store from the shell.

Every subcommand takes ``--store URL`` (default: ``$FACTSTR_STORE``, else ``sqlite:///factstr.db``) and talks to
the store through the public contract only, so it works the same on every store. Output is JSON (one object,
or NDJSON for many); messages and progress go to stderr; the exit status is 0 on success, 1 when the work
found a problem (a refused import, a failed verification), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import IO, Any

import msgspec

from ._connect import connect
from ._errors import ConditionalAppendConflict, EventStoreError
from ._model import JSON, DurableStreamInfo, EventFilter, EventQuery, EventRecord, NewEvent
from ._store import EventStore

DEFAULT_STORE = "sqlite:///factstr.db"
DEFAULT_PORT = 7117
EXPORT_FORMAT = 1

_encode = msgspec.json.Encoder().encode


class CommandError(Exception):
    """A problem the command reports in one line and exits 1 for (no traceback)."""


# --- output -----------------------------------------------------------------------------------------------


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _record_json(record: EventRecord) -> dict[str, JSON]:
    return {
        "sequence_number": record.sequence_number,
        "occurred_at": _instant(record.occurred_at),
        "event_type": record.event_type,
        "payload": record.payload,
    }


def _query_json(query: EventQuery) -> dict[str, JSON]:
    # Through JSON text, so that tuples and other sequences become plain lists.
    result: dict[str, JSON] = msgspec.json.decode(msgspec.json.encode(query))
    return result


def _info_json(info: DurableStreamInfo) -> dict[str, JSON]:
    return {
        "name": info.name,
        "query": _query_json(info.query),
        "cursor": info.cursor,
        "head": info.head,
        "lag": info.lag,
        "active": info.active,
    }


def _print(value: object, out: IO[str] | None = None) -> None:
    (out or sys.stdout).write(_encode(value).decode() + "\n")


class Progress:
    """A one-line progress indicator on stderr, redrawn at most ten times a second; silent unless a terminal."""

    def __init__(self, label: str, total: int | None, stream: IO[str] | None = None) -> None:
        self._label = label
        self._total = total or 0
        self._stream = stream or sys.stderr
        self._last_draw = 0.0
        self._done = 0
        self._visible = self._stream.isatty()

    def update(self, done: int) -> None:
        self._done = done
        now = time.monotonic()
        if self._visible and now - self._last_draw >= 0.1:
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        if self._total:
            share = min(self._done / self._total, 1.0)
            bar = "#" * int(share * 30)
            self._stream.write(f"\r{self._label} [{bar:<30}] {self._done}/{self._total} {share:6.1%}")
        else:
            self._stream.write(f"\r{self._label} {self._done}")
        self._stream.flush()

    def finish(self) -> None:
        if not self._visible:
            return
        self._draw()
        self._stream.write("\n")
        self._stream.flush()


# --- reading the whole log as committed batches -----------------------------------------------------------


def replay(store: EventStore, on_batch: Callable[[list[EventRecord]], None], label: str) -> int:
    """Call ``on_batch`` with every committed batch up to the current head, in order; return that head.

    It uses a live stream started at the beginning, so batch boundaries come from the store and memory stays
    bounded whatever the size of the log. An error in ``on_batch`` stops the replay and is raised here.
    """
    head = store.head() or 0
    progress = Progress(label, head)
    failures: list[BaseException] = []

    def handler(batch: list[EventRecord]) -> None:
        if failures or batch[0].sequence_number > head:
            return
        try:
            on_batch(batch)
        except BaseException as exc:
            failures.append(exc)
            return
        progress.update(batch[-1].sequence_number)

    if head:
        with store.stream_all(handler, start="beginning") as stream:
            while not stream.wait_until(head, timeout=0.2):
                if failures:
                    break
    progress.finish()
    if failures:
        raise failures[0]
    return head


# --- subcommands ------------------------------------------------------------------------------------------


def _open(args: argparse.Namespace) -> EventStore:
    return connect(args.store)


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import create_app, make_server
    from .server._logging import configure_json_logging
    from .server._security import check_listen_address

    token = args.token or os.environ.get("FACTSTR_TOKEN") or None
    check_listen_address(args.host, token, args.insecure)
    configure_json_logging(args.log_level)
    with _open(args) as store:
        app = create_app(
            store,
            token=token,
            max_body_bytes=args.max_body_bytes,
            max_streams_per_client=args.max_streams_per_client,
            heartbeat_seconds=args.heartbeat_seconds,
            cors_origins=args.cors_origin or (),
            ui_admin=args.ui_admin,
        )
        server = make_server(app, args.host, args.port)
        logging.getLogger("factstr.server").info(
            "serving %s on http://%s:%d", args.store, args.host, args.port, extra={"store": args.store}
        )
        # Uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again for the previous
        # handler: make that one a clean exit, since the shutdown already happened.
        signal.signal(signal.SIGTERM, _exit_cleanly)
        with suppress(KeyboardInterrupt):
            server.run()
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _json_argument(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{what} is not JSON: {exc}") from exc


def _events_from_lines(lines: Iterator[str]) -> list[NewEvent]:
    events = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        item = _json_argument(line, f"line {number}")
        if not isinstance(item, dict) or set(item) - {"event_type", "payload"} or "event_type" not in item:
            raise CommandError(f'line {number} must be {{"event_type": ..., "payload": ...}}')
        events.append(NewEvent(item["event_type"], item.get("payload")))
    return events


def cmd_append(args: argparse.Namespace) -> int:
    if args.event_type is not None:
        payload = {} if args.payload is None else _json_argument(args.payload, "the payload")
        events = [NewEvent(args.event_type, payload)]
    else:
        events = _events_from_lines(iter(sys.stdin))
    with _open(args) as store:
        result = store.append(events)
    _print(
        {
            "first_sequence_number": result.first_sequence_number,
            "last_sequence_number": result.last_sequence_number,
            "committed_count": result.committed_count,
        }
    )
    return 0


def _query_from_args(args: argparse.Namespace) -> EventQuery:
    if args.query is not None:
        return msgspec.convert(_json_argument(args.query, "--query"), EventQuery)
    predicates = [_json_argument(text, "--predicate") for text in args.predicate or []]
    filters = None
    if args.type or predicates:
        filters = [EventFilter(event_types=args.type or None, payload_predicates=predicates or None)]
    return EventQuery(filters=filters)


def cmd_query(args: argparse.Namespace) -> int:
    base = _query_from_args(args)
    query = EventQuery(
        filters=base.filters,
        min_sequence_number=args.after if args.after is not None else base.min_sequence_number,
        limit=args.limit if args.limit is not None else base.limit,
        backwards=args.backwards or base.backwards,
    )
    with _open(args) as store:
        result = store.query(query)
    if args.result:
        _print(
            {
                "event_records": [_record_json(r) for r in result.event_records],
                "last_returned_sequence_number": result.last_returned_sequence_number,
                "current_context_version": result.current_context_version,
            }
        )
    else:
        for record in result.event_records:
            _print(_record_json(record))
    return 0


def _start_argument(text: str | None) -> Any:
    if text is None:
        return None
    return int(text) if text.isascii() and text.isdigit() else text


def cmd_tail(args: argparse.Namespace) -> int:
    query = _query_from_args(args)
    lock = threading.Lock()
    batches = 0
    finished = threading.Event()
    out = sys.stdout

    def handler(batch: list[EventRecord]) -> None:
        nonlocal batches
        with lock:
            for record in batch:
                _print(_record_json(record), out)
            out.flush()
            batches += 1
            if args.count is not None and batches >= args.count:
                finished.set()

    start = _start_argument(args.start)
    with _open(args) as store:
        if args.durable:
            stream = store.stream_to_durable(
                args.durable, query, handler, start="beginning" if start is None else start
            )
        else:
            stream = store.stream_to(query, handler, start="end" if start is None else start)
        with stream, suppress(KeyboardInterrupt):
            finished.wait(args.seconds)
    return 0


def cmd_cursors(args: argparse.Namespace) -> int:
    with _open(args) as store:
        if args.action == "list":
            for info in store.durable_streams():
                _print(_info_json(info))
        elif args.action == "inspect":
            found = store.durable_stream(args.name)
            if found is None:
                raise CommandError(f"no durable stream named {args.name!r}")
            _print(_info_json(found))
        elif args.action == "reset":
            store.reset_durable_stream(args.name, args.position)
            _print({"name": args.name, "cursor": args.position or None})
        else:
            store.delete_durable_stream(args.name)
            _print({"name": args.name, "deleted": True})
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    # Imported here: query models are an optional layer, and most commands never need them.
    from . import projections

    with _open(args) as store:
        if args.action == "list":
            for info in projections.query_models(store):
                _print(msgspec.to_builtins(info))
        elif args.action == "inspect":
            found = projections.inspect(store, args.name)
            if found is None:
                raise CommandError(f"no query model named {args.name!r}")
            _print(msgspec.to_builtins(found))
        elif args.action == "reset":
            projections.reset(store, args.name)
            _print({"name": args.name, "reset": True})
        else:
            model = projections.load_query_model(args.model)
            progress: Progress | None = None

            def report(position: int, head: int) -> None:
                nonlocal progress
                if progress is None:
                    progress = Progress(f"rebuild {model.name}", head)
                progress.update(position)

            state = projections.rebuild(store, model, progress=report)
            if progress is not None:
                progress.finish()
            _print({"name": model.name, "state": msgspec.to_builtins(state)})
    return 0


@contextmanager
def _output(path: str) -> Iterator[IO[str]]:
    if path == "-":
        yield sys.stdout
        sys.stdout.flush()
    else:
        with open(path, "w", encoding="utf-8") as file:
            yield file


@contextmanager
def _input(path: str) -> Iterator[IO[str]]:
    if path == "-":
        yield sys.stdin
    else:
        with open(path, encoding="utf-8") as file:
            yield file


def cmd_export(args: argparse.Namespace) -> int:
    with _open(args) as store, _output(args.file) as out:
        head = store.head() or 0
        _print({"factstr_export": EXPORT_FORMAT, "head": head or None}, out)

        def write(batch: list[EventRecord]) -> None:
            _print({"batch": [_record_json(record) for record in batch]}, out)

        replay(store, write, "export")
        for info in store.durable_streams():
            _print(
                {"durable_stream": {"name": info.name, "query": _query_json(info.query), "cursor": info.cursor}}, out
            )
    return 0


class _ExportedRecord(msgspec.Struct, forbid_unknown_fields=True):
    sequence_number: int
    occurred_at: datetime
    event_type: str
    payload: Any


class _ExportedCursor(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    query: EventQuery
    cursor: int | None


class _ExportLine(msgspec.Struct, forbid_unknown_fields=True):
    factstr_export: int | None = None
    head: int | None = None
    batch: list[_ExportedRecord] | None = None
    durable_stream: _ExportedCursor | None = None


def cmd_import(args: argparse.Namespace) -> int:
    decoder = msgspec.json.Decoder(_ExportLine)
    with _open(args) as store, _input(args.file) as source:
        if store.head() is not None or store.durable_streams():
            raise CommandError("import needs an empty store: this one already has events or durable cursors")
        progress: Progress | None = None
        expected_next = 1
        cursors: list[_ExportedCursor] = []
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                item = decoder.decode(line)
            except msgspec.MsgspecError as exc:
                raise CommandError(f"line {number} is not an export line: {exc}") from exc
            if item.factstr_export is not None:
                if item.factstr_export != EXPORT_FORMAT:
                    raise CommandError(f"export format {item.factstr_export} is not supported")
                progress = Progress("import", item.head)
            elif item.batch:
                first = item.batch[0].sequence_number
                if first != expected_next or any(r.sequence_number != first + i for i, r in enumerate(item.batch)):
                    raise CommandError(f"line {number}: the batch does not continue the log at {expected_next}")
                try:
                    # Lands exactly at ``first`` with its original occurred_at, or not at all.
                    result = store.import_batch(
                        [EventRecord(r.sequence_number, r.occurred_at, r.event_type, r.payload) for r in item.batch]
                    )
                except ConditionalAppendConflict as exc:
                    raise CommandError(
                        f"line {number}: the batch starting at {first} does not continue the store's log "
                        f"(head {exc.actual}); was something else appending?"
                    ) from exc
                expected_next = result.last_sequence_number + 1
                if progress is not None:
                    progress.update(result.last_sequence_number)
            elif item.durable_stream is not None:
                cursors.append(item.durable_stream)
        if progress is not None:
            progress.finish()
        for cursor in cursors:
            # Registering at the end delivers nothing; the reset then puts the cursor exactly where it was.
            store.stream_to_durable(cursor.name, cursor.query, _ignore, start="end", reset=True).unsubscribe()
            store.reset_durable_stream(cursor.name, cursor.cursor or 0)
        _print({"imported_events": expected_next - 1, "durable_streams": len(cursors)})
    return 0


def _ignore(batch: list[EventRecord]) -> None:
    """A handler for registrations that must deliver nothing."""


def cmd_verify(args: argparse.Namespace) -> int:
    problems: list[str] = []
    checked = 0
    with _open(args) as store:
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
    _print({"head": head or None, "index_checks": checked, "problems": len(problems), "ok": not problems})
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

    with _open(args) as store:
        head = replay(store, count, "stats")
        cursors = store.durable_streams()
    _print(
        {
            "head": head or None,
            "events": sum(types.values()),
            "batches": batches,
            "largest_batch": largest,
            "event_types": dict(sorted(types.items())),
            "first_occurred_at": None if first_at is None else _instant(first_at),
            "last_occurred_at": None if last_at is None else _instant(last_at),
            "durable_streams": len(cursors),
            "max_lag": max((info.lag for info in cursors), default=0),
        }
    )
    return 0


# --- the parser -------------------------------------------------------------------------------------------


def _add_query_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--type", action="append", metavar="EVENT_TYPE", help="match this type (repeatable)")
    parser.add_argument(
        "--predicate", action="append", metavar="JSON", help="match payloads containing this JSON (repeatable)"
    )
    parser.add_argument("--query", metavar="JSON", help="a whole EventQuery as JSON (instead of --type/--predicate)")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``factstr`` command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--store",
        default=os.environ.get("FACTSTR_STORE", DEFAULT_STORE),
        metavar="URL",
        help="memory://, sqlite:///file.db or postgresql://... (default: $FACTSTR_STORE or %(default)s)",
    )
    parser = argparse.ArgumentParser(
        prog="factstr", description="FACTSTR: an event store for facts-first event sourcing."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, handler: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    serve = command(
        "serve",
        "Serve the store over HTTP (JSON and server-sent events), with a web inspector at /ui.",
        cmd_serve,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s)")
    serve.add_argument("--token", help="require this bearer token (default: $FACTSTR_TOKEN)")
    serve.add_argument("--insecure", action="store_true", help="allow a non-loopback address without a token")
    serve.add_argument("--max-body-bytes", type=int, default=8 * 1024 * 1024, help="request body limit")
    serve.add_argument("--max-streams-per-client", type=int, default=64, help="open streams per client address")
    serve.add_argument("--heartbeat-seconds", type=float, default=15.0, help="SSE heartbeat interval")
    serve.add_argument("--cors-origin", action="append", metavar="ORIGIN", help="allow a browser origin (repeatable)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--ui-admin", action="store_true", help="let the web inspector at /ui reset and delete durable cursors"
    )

    append = command("append", "Append one event, or the NDJSON events read from stdin as one batch.", cmd_append)
    append.add_argument("event_type", nargs="?", help="the event type (omit to read NDJSON from stdin)")
    append.add_argument("payload", nargs="?", help="the payload as JSON (default: {})")

    query = command("query", "Print the matching events as NDJSON.", cmd_query)
    _add_query_options(query)
    query.add_argument("--after", type=int, metavar="N", help="only events after sequence number N")
    query.add_argument("--limit", type=int, metavar="N", help="at most N events")
    query.add_argument("--backwards", action="store_true", help="newest first")
    query.add_argument("--result", action="store_true", help="print the whole QueryResult as one JSON object")

    tail = command("tail", "Follow a stream: print each committed batch's matching events as NDJSON.", cmd_tail)
    _add_query_options(tail)
    tail.add_argument("--durable", metavar="NAME", help="follow the durable stream NAME (stores its cursor)")
    tail.add_argument("--start", metavar="WHERE", help="beginning, end or a sequence number")
    tail.add_argument("--count", type=int, metavar="N", help="stop after N batches")
    tail.add_argument("--seconds", type=float, metavar="S", help="stop after S seconds")

    cursors = command("cursors", "List, inspect, reset or delete durable stream cursors.", cmd_cursors)
    actions = cursors.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="every stored cursor", parents=[common])
    for name, help_text in (("inspect", "one cursor"), ("delete", "forget a cursor")):
        actions.add_parser(name, help=help_text, parents=[common]).add_argument("name")
    reset = actions.add_parser("reset", help="the next registration resumes after POSITION", parents=[common])
    reset.add_argument("name")
    reset.add_argument("position", type=int)

    models = command("models", "List, inspect, reset or rebuild query models (factstr.projections).", cmd_models)
    model_actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    model_actions.add_parser("list", help="every stored query model", parents=[common])
    for name, help_text in (("inspect", "one query model"), ("reset", "forget its state and cursor")):
        model_actions.add_parser(name, help=help_text, parents=[common]).add_argument("name")
    rebuild = model_actions.add_parser(
        "rebuild", help="fold every matching fact again, with a progress bar", parents=[common]
    )
    rebuild.add_argument("model", metavar="MODULE:ATTRIBUTE", help="where the QueryModel is, e.g. shop.models:SALES")

    export = command("export", "Write the log (batch by batch) and the cursors as NDJSON.", cmd_export)
    export.add_argument("file", nargs="?", default="-", help="output file (default: stdout)")

    imp = command("import", "Load an export into an EMPTY store, keeping numbers, batches and cursors.", cmd_import)
    imp.add_argument("file", nargs="?", default="-", help="input file (default: stdin)")

    verify = command("verify", "Check the log: gapless, batches whole, queries and indexes agree.", cmd_verify)
    verify.add_argument(
        "--max-index-checks", type=int, default=10_000, metavar="N", help="probe the indexes for the first N events"
    )

    command("stats", "Summarise the log and the cursors.", cmd_stats)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``factstr`` command; return its exit status."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except (CommandError, EventStoreError, msgspec.MsgspecError) as exc:
        sys.stderr.write(f"factstr {args.command}: {exc}\n")
        return 1
    except BrokenPipeError:
        return 0  # the reader (e.g. `head`) went away
    return status


if __name__ == "__main__":
    sys.exit(main())
