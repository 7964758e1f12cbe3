"""``factstr export`` and ``factstr import``: move a log between stores, checked from end to end.

The export file is NDJSON (UTF-8, every line ending with a newline)::

    {"factstr_export": 2, "head": 3}                                 the header: the format and the head exported
    {"batch": [EventRecord, ...]}                                    one line per committed batch, in log order
    {"durable_stream": {"name": ..., "query": ..., "cursor": ...}}   one line per durable cursor
    {"end": {"events": 3, "batches": 2, "durable_streams": 1, "sha256": "..."}}

The end line is written last, once everything before it is written, and its ``sha256`` covers the exact bytes
of every line before it. A file cut anywhere (inside a line or between two) has no valid end line, and a
changed byte changes the checksum: import reads the whole file once to check both before it touches a store.

Import then commits batch after batch with ``import_batch`` (each lands at its exported numbers with its
commit time, or not at all), so a failure part-way (the database went away, Ctrl-C) leaves whole batches
1..n. Running the same import again continues after n: a store that holds the start of this very file
(compared event by event) is a partial import of it; any other non-empty store is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import IO, Any

import msgspec

from .._errors import EventStoreError
from .._model import EventQuery, EventRecord
from .._store import EventStore
from .._wire import encode, query_to_wire, records_to_wire
from ._output import CommandError, Progress, print_json, replay, say
from ._stores import is_remote, open_store

EXPORT_FORMAT = 2
_CURSOR_LINE = b'{"durable_stream"'  # how export starts a cursor line (the checksum vouches for the bytes)
_COMPARE_PAGE = 1000

# --- export -----------------------------------------------------------------------------------------------


class _Writer:
    """Writes export lines and keeps the checksum of everything written."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._digest = hashlib.sha256()

    def line(self, value: object) -> None:
        data = encode(value) + b"\n"
        self._digest.update(data)
        self._out.write(data)

    def end(self, **counts: int) -> None:
        # Not hashed itself: it carries the hash of every line before it.
        self._out.write(encode({"end": {**counts, "sha256": self._digest.hexdigest()}}) + b"\n")
        self._out.flush()


@contextmanager
def _output(path: str) -> Iterator[IO[bytes]]:
    """Stdout, or a temporary file next to ``path`` that becomes ``path`` only once the export is complete."""
    if path == "-":
        sys.stdout.flush()
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    if os.path.isdir(path):
        raise CommandError(f"cannot write {path}: it is a directory")
    directory, name = os.path.split(os.path.abspath(path))
    try:
        temporary = tempfile.NamedTemporaryFile(  # noqa: SIM115 - renamed or removed below
            dir=directory, prefix=f".{name}.", suffix=".partial", delete=False
        )
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with temporary:
            yield temporary
        os.replace(temporary.name, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary.name)
        raise


def cmd_export(args: argparse.Namespace) -> int:
    store, _ = open_store(args)
    with store, _output(args.file) as out:
        writer = _Writer(out)
        head = store.head() or 0
        writer.line({"factstr_export": EXPORT_FORMAT, "head": head or None})
        batches = 0

        def write(batch: list[EventRecord]) -> None:
            nonlocal batches
            writer.line({"batch": records_to_wire(batch)})
            batches += 1

        replay(store, write, "export")
        cursors = store.durable_streams()
        for info in cursors:
            # A stream may have handled events appended after the export began; they are not in the file, so
            # its cursor is capped at the exported head (else the copy would skip its own next events).
            cursor = None if info.cursor is None else min(info.cursor, head) or None
            writer.line({"durable_stream": {"name": info.name, "query": query_to_wire(info.query), "cursor": cursor}})
        writer.end(events=head, batches=batches, durable_streams=len(cursors))
    return 0


# --- reading an export ------------------------------------------------------------------------------------


class _ExportedRecord(msgspec.Struct, forbid_unknown_fields=True):
    sequence_number: int
    occurred_at: datetime
    event_type: str
    payload: Any


class _ExportedCursor(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    query: EventQuery
    cursor: int | None


class _End(msgspec.Struct, forbid_unknown_fields=True):
    events: int
    batches: int
    durable_streams: int
    sha256: str


class _Line(msgspec.Struct, forbid_unknown_fields=True):
    factstr_export: int | None = None
    head: int | None = None
    batch: list[_ExportedRecord] | None = None
    durable_stream: _ExportedCursor | None = None
    end: _End | None = None


_decode_line = msgspec.json.Decoder(_Line).decode


class _Checked(msgspec.Struct):
    """What the first reading of a sound export file found."""

    head: int
    end: _End
    cursor_names: list[str]


def _decode(data: bytes, where: str) -> _Line:
    try:
        return _decode_line(data)
    except msgspec.MsgspecError as exc:
        raise CommandError(f"{where} is not an export line: {exc}") from exc


def _check_file(source: IO[bytes], size: int | None) -> _Checked:
    """Read the whole file once: header, checksum and end line. Raise CommandError if it is not whole."""
    first = source.readline()
    if not first.strip():
        raise CommandError("the file is empty or does not start with an export header: not a factstr export")
    try:
        header = _decode_line(first)
    except msgspec.MsgspecError:
        header = _Line()
    if header.factstr_export is None:
        raise CommandError("the first line is not an export header: not a file written by factstr export")
    if header.factstr_export != EXPORT_FORMAT:
        raise CommandError(
            f"export format {header.factstr_export} is not supported (this factstr reads format {EXPORT_FORMAT}); "
            "export the store again with this version"
        )
    head = header.head or 0
    digest = hashlib.sha256(first)
    progress = Progress("check", size)
    names: list[str] = []
    done = len(first)
    previous: bytes | None = None
    for line in source:
        if previous is not None:
            digest.update(previous)
            if previous.startswith(_CURSOR_LINE):
                cursor = _decode(previous, "a cursor line").durable_stream
                if cursor is not None:
                    names.append(cursor.name)
        previous = line
        done += len(line)
        progress.update(done)
    progress.finish()
    truncated = f"the file is truncated (its header says head {head}, and export writes an end line last)"
    if previous is None or not previous.endswith(b"\n"):
        cut = "right after its header" if previous is None else "inside a line"
        raise CommandError(f"{truncated}: it ends {cut}")
    try:
        end = _decode_line(previous).end
    except msgspec.MsgspecError:
        end = None
    if end is None:
        raise CommandError(f"{truncated}: its last line is not the end line")
    if end.sha256 != digest.hexdigest():
        raise CommandError("the file was changed or damaged after export: its checksum does not match its end line")
    if end.events != head or end.durable_streams != len(names):
        raise CommandError(f"the file contradicts itself: header head {head}, end line {msgspec.to_builtins(end)}")
    return _Checked(head, end, names)


@contextmanager
def _input(path: str) -> Iterator[tuple[IO[bytes], int | None]]:
    """The export as a seekable binary file, and its size; standard input is copied to a temporary file first."""
    if path == "-":
        if sys.stdin.isatty():
            say("import", "reading an export from standard input; end with Ctrl-D")
        with tempfile.TemporaryFile() as spool:
            shutil.copyfileobj(sys.stdin.buffer, spool)
            spool.seek(0)
            yield spool, None
        return
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with file:
        yield file, os.fstat(file.fileno()).st_size


# --- import -----------------------------------------------------------------------------------------------


class _Prefix:
    """The store's own records from 1 on, read page by page, to check that they are the file's first ones."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._page: list[EventRecord] = []
        self._index = 0
        self._after = 0

    def check(self, records: list[EventRecord]) -> None:
        for record in records:
            stored = self._next()
            if stored != record:
                raise CommandError(
                    f"the store's event {record.sequence_number} is not the file's: this store is not a partial "
                    "import of this file. Import into an empty store"
                )

    def _next(self) -> EventRecord | None:
        if self._index == len(self._page):
            self._page = self._store.query(
                EventQuery(min_sequence_number=self._after, limit=_COMPARE_PAGE)
            ).event_records
            self._index = 0
            if not self._page:
                return None
        record = self._page[self._index]
        self._index += 1
        self._after = record.sequence_number
        return record


class _Run:
    """What this run of import did, for the report."""

    def __init__(self, checked: _Checked, present: int) -> None:
        self.head = checked.head
        self.cursors_in_file = checked.end.durable_streams
        self.present = present  # events the store held before this run
        self.store_head: int | None = present
        self.first: int | None = None
        self.last = 0
        self.events = 0
        self.batches = 0
        self.cursors = 0

    def committed(self, first: int, last: int) -> None:
        if self.first is None:
            self.first = first
        self.last = last
        self.events += last - first + 1
        self.batches += 1
        self.store_head = last

    def look_again(self, store: EventStore) -> None:
        """Read the head from the store itself: an interrupted batch may or may not have committed."""
        try:
            self.store_head = store.head() or 0
        except EventStoreError:
            self.store_head = None

    def describe(self) -> str:
        if self.first is None:
            done = "this run committed no events"
        else:
            done = f"this run committed events {self.first}..{self.last} ({self.events} in {self.batches} batches)"
        if self.store_head is None:
            held = "the store's head could not be read"
        elif self.store_head:
            held = f"the store holds events 1..{self.store_head} of the file's {self.head}"
        else:
            held = f"the store holds none of the file's {self.head} events"
        return f"{done}; {held}; {self.cursors} of the file's {self.cursors_in_file} durable cursors are set"

    def json(self) -> dict[str, int | None]:
        return {
            "head": self.head or None,
            "store_head": self.store_head or None,
            "imported_events": self.events,
            "already_present_events": self.present,
            "imported_batches": self.batches,
            "durable_streams": self.cursors,
        }


def cmd_import(args: argparse.Namespace) -> int:
    if is_remote(args.store):
        raise CommandError(
            "import keeps the exported sequence numbers and commit times, which a server does not accept: "
            "pass the database itself, e.g. --store sqlite:///copy.db or --store postgresql://user@host/db"
        )
    with _input(args.file) as (source, size):
        try:
            checked = _check_file(source, size)
        except CommandError as exc:
            raise CommandError(f"{exc}. Nothing was imported: no store was opened") from exc
        store, created = open_store(args, may_create=True)
        with store:
            if created:
                say("import", f"created a new store at {args.store}")
            run = _Run(checked, store.head() or 0)
            try:
                _import(store, source, checked, run)
            except (CommandError, EventStoreError, KeyboardInterrupt) as exc:
                run.look_again(store)
                problem = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
                again = "" if isinstance(exc, CommandError) else "; run the same import again to continue"
                print_json({"ok": False, "problem": problem, **run.json()})
                raise CommandError(f"{problem}. {run.describe()}{again}") from exc
    print_json({"ok": True, **run.json()})
    return 0


def _import(store: EventStore, source: IO[bytes], checked: _Checked, run: _Run) -> None:
    present = run.present
    existing = {info.name for info in store.durable_streams()}
    if present or existing:
        if present > checked.head:
            raise CommandError(
                f"the store holds {present} events, more than the file's {checked.head}: it is not a partial "
                "import of this file. Import into an empty store"
            )
        strangers = sorted(existing - set(checked.cursor_names))
        if strangers:
            raise CommandError(
                f"the store has durable cursors that the file does not ({', '.join(map(repr, strangers))}): "
                "it is not a partial import of this file. Import into an empty store"
            )
        say("import", f"the store already holds events 1..{present}: checking them against the file, then continuing")
    prefix = _Prefix(store)
    progress = Progress("import", checked.head)
    expected_next = 1
    batches = 0
    cursors: list[_ExportedCursor] = []
    source.seek(0)
    source.readline()  # the header, checked already
    for number, line in enumerate(source, start=2):
        item = _decode(line, f"line {number}")
        if item.end is not None:
            break
        if item.durable_stream is not None:
            cursors.append(item.durable_stream)
            continue
        if not item.batch:
            raise CommandError(f"line {number} is neither a batch nor a durable cursor")
        first, last = item.batch[0].sequence_number, item.batch[-1].sequence_number
        if first != expected_next or any(r.sequence_number != first + i for i, r in enumerate(item.batch)):
            raise CommandError(f"line {number}: the batch does not continue the log at {expected_next}")
        records = [EventRecord(r.sequence_number, r.occurred_at, r.event_type, r.payload) for r in item.batch]
        if last <= present:
            prefix.check(records)
        elif first <= present:
            raise CommandError(
                f"the store's events end at {present}, inside the file's batch {first}..{last}: it is not a "
                "partial import of this file. Import into an empty store"
            )
        else:
            # Lands exactly at ``first`` with its original occurred_at, or not at all.
            result = store.import_batch(records)
            run.committed(result.first_sequence_number, result.last_sequence_number)
        expected_next = last + 1
        batches += 1
        progress.update(last)
    progress.finish()
    if batches != checked.end.batches or expected_next - 1 != checked.head:
        raise CommandError(f"the file holds {expected_next - 1} events in {batches} batches, not what its end says")
    for cursor in cursors:
        stored = store.durable_stream(cursor.name)
        if stored is None or stored.query != cursor.query or stored.cursor != cursor.cursor:
            # Registering at the end delivers nothing; the reset then puts the cursor exactly where it was.
            store.stream_to_durable(cursor.name, cursor.query, _ignore, start="end", reset=True).unsubscribe()
            store.reset_durable_stream(cursor.name, cursor.cursor or 0)
        run.cursors += 1
    _check_result(store, checked, cursors)


def _check_result(store: EventStore, checked: _Checked, cursors: list[_ExportedCursor]) -> None:
    """Compare the store with what the file says it holds: the head and every cursor."""
    head = store.head() or 0
    if head != checked.head:
        raise CommandError(f"after the import the store's head is {head}, but the file's is {checked.head}")
    for cursor in cursors:
        stored = store.durable_stream(cursor.name)
        if stored is None or stored.query != cursor.query or stored.cursor != cursor.cursor:
            raise CommandError(f"after the import the durable cursor {cursor.name!r} is not the file's")


def _ignore(batch: list[EventRecord]) -> None:
    """A handler for registrations that must deliver nothing."""
