"""The store contract (:class:`EventStore`) and the base the local stores share (:class:`LocalStore`).

``EventStore`` is the public contract, abstract: every store is one (``isinstance(x, EventStore)``), the
HTTP client included. Its writing and reading methods validate their input (``_validation``) in one place,
check that the store is open and call ``_append``, ``_query`` and ``_head``, which every store answers in its
own way (a database, or a server); streams and durable cursors are abstract here.

``LocalStore`` implements streams and durable cursors once for the stores that keep the log themselves, over
a small set of backend methods: read matching records after a position, and keep durable cursors and holds.
Streams are run by the shared runtime (``_streams``); no store has delivery code of its own.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import NamedTuple, Self

from ._errors import DurableStreamMismatch, InvalidInput, StoreClosed, UnknownDurableStream
from ._matching import Filters
from ._model import (
    AppendResult,
    DurableStream,
    DurableStreamInfo,
    EventQuery,
    EventRecord,
    NewEvent,
    QueryResult,
    Start,
)
from ._notify import Notifier
from ._streams import SAFETY_POLL_SECONDS, ErrorCallback, EventStream, Handler, Hold, StreamSource
from ._validation import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    Idempotency,
    PreparedEvent,
    PreparedQuery,
    check_durable_name,
    check_events,
    check_expected_version,
    check_idempotency_key,
    check_import_batch,
    check_query,
    check_sequence_number,
    check_start,
    check_unbounded,
    filters_from_json,
    filters_to_json,
    filters_to_query,
)

# How many matching records a stream worker reads in one go; a batch is never split, whatever its size.
READ_CHUNK = 1000


class Condition(NamedTuple):
    """The condition of ``append_if``: the context's current version must equal ``expected``."""

    filters: Filters
    expected: int | None


def replayed(idempotency: Idempotency, stored_digest: str, first: int, last: int) -> AppendResult | InvalidInput:
    """The outcome of an append whose idempotency key the log already holds for the batch ``first..last``.

    Every store decides it here: the stored result when the events are the same, else InvalidInput (returned,
    not raised, so that a group commit hands it to its own appender only).
    """
    if stored_digest != idempotency.digest:
        return InvalidInput(
            f"idempotency key {idempotency.key!r} was used for other events (the batch {first}..{last}); "
            "nothing was committed"
        )
    return AppendResult(first, last, last - first + 1)


class Scan(NamedTuple):
    """Matching records after a position, each with the first sequence number of its batch.

    ``horizon`` is how far the log was read: the head of the snapshot when fewer than the limit were returned,
    else the last returned sequence number.
    """

    records: list[EventRecord]
    batch_starts: list[int]
    horizon: int


class StoredCursor(NamedTuple):
    """A durable cursor as stored: the canonical JSON of its filters and the last handled number (0: none)."""

    name: str
    filters_json: str
    cursor: int


class EventStore(abc.ABC):
    """An append-only log of facts with queries, conditional appends and committed-batch streams.

    Thread-safe: one store object may be shared by many threads. Use it as a context manager, or call
    :meth:`close`, which stops its streams and releases its connections.
    """

    __module__ = "factstr"

    def __init__(
        self,
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        poll_interval: float = SAFETY_POLL_SECONDS,
    ) -> None:
        self.notifier = Notifier()
        self._max_payload_bytes = max_payload_bytes
        self._poll_interval = poll_interval
        self._closed = False
        self._streams_lock = threading.Lock()
        self._streams: set[EventStream] = set()

    # --- writing -----------------------------------------------------------------------------------------

    def append(self, events: Sequence[NewEvent], *, idempotency_key: str | None = None) -> AppendResult:
        """Commit ``events`` atomically as one batch with one consecutive range of sequence numbers.

        Raises EmptyAppend for no events and InvalidInput for bad ones (see :class:`NewEvent` for the rules);
        nothing is committed then. A bad batch fails only its own call, never a concurrent caller's append.

        ``idempotency_key`` (1 to 128 letters, digits or ``- _ . : ~ + / =``) makes a retry safe: when the log
        already holds a batch appended with that key, the call returns that batch's AppendResult and writes
        nothing; the same key with other events raises InvalidInput. Keys are kept forever (C9.4).
        """
        prepared = check_events(events, self._max_payload_bytes)
        idempotency = check_idempotency_key(idempotency_key, prepared)
        self._check_open()
        result = self._append(prepared, None, idempotency=idempotency)
        self.notifier.notify()
        return result

    def append_if(
        self,
        events: Sequence[NewEvent],
        context_query: EventQuery,
        expected_context_version: int | None,
        *,
        idempotency_key: str | None = None,
    ) -> AppendResult:
        """Commit like :meth:`append` only if the context's current version is ``expected_context_version``.

        ``None`` expects no matching event. Otherwise raises ConditionalAppendConflict with ``expected``,
        ``actual`` and the context's ``facts`` after ``expected``, commits nothing and consumes no sequence
        number. The check and the write are atomic against every other writer, in any process.
        ``min_sequence_number``, ``limit`` and ``backwards`` of the context query are ignored;
        ``max_sequence_number`` is refused (InvalidInput). A known ``idempotency_key`` returns the original
        result as in :meth:`append`, before the condition is looked at.
        """
        prepared = check_events(events, self._max_payload_bytes)
        context = check_unbounded(check_query(context_query, "context_query"), "context_query", "append_if")
        expected = check_expected_version(expected_context_version)
        idempotency = check_idempotency_key(idempotency_key, prepared)
        self._check_open()
        result = self._append(prepared, Condition(context, expected), idempotency=idempotency)
        self.notifier.notify()
        return result

    def import_batch(self, records: Sequence[EventRecord]) -> AppendResult:
        """Append one batch exported from another store, keeping its sequence numbers and its ``occurred_at``.

        For moving a log between stores (``factstr export`` / ``factstr import``): ``records`` must be one
        committed batch (consecutive numbers, one timezone-aware ``occurred_at``). It is committed only if it
        starts right after the head, atomically, so the numbers stay the exported ones; otherwise it raises
        ConditionalAppendConflict with the head as ``actual``. Payloads are validated as in :meth:`append`.
        """
        events, occurred_at, first = check_import_batch(records)
        prepared = check_events(events, self._max_payload_bytes)
        self._check_open()
        # The version of "every event" is the head: the batch lands exactly at ``first`` or not at all.
        result = self._append(prepared, Condition(None, first - 1 or None), occurred_at=occurred_at)
        self.notifier.notify()
        return result

    # --- reading -----------------------------------------------------------------------------------------

    def query(self, query: EventQuery) -> QueryResult:
        """Return the matching facts after ``min_sequence_number`` in ascending order (C3, C8).

        ``current_context_version`` is the highest matching sequence number in the whole log, whatever
        ``min_sequence_number`` and ``limit`` say (with ``max_sequence_number``: the highest at or below it);
        ``head`` is the log's head. Records and all three numbers come from one snapshot.
        """
        prepared = check_query(query)
        self._check_open()
        return self._query(prepared)

    def head(self) -> int | None:
        """Return the highest committed sequence number, or ``None`` for an empty log."""
        self._check_open()
        return self._head() or None

    # --- streams -----------------------------------------------------------------------------------------

    def stream_all(
        self, handler: Handler, *, start: Start = "end", on_error: ErrorCallback | None = None
    ) -> EventStream:
        """Call ``handler`` with every batch committed after this call, one call per batch."""
        return self.stream_to(EventQuery(), handler, start=start, on_error=on_error)

    @abc.abstractmethod
    def stream_to(
        self,
        query: EventQuery,
        handler: Handler,
        *,
        start: Start = "end",
        on_error: ErrorCallback | None = None,
    ) -> EventStream:
        """Call ``handler`` with the matching events of every batch committed after this call.

        A batch without a matching event produces no call. A handler that raises is reported (``failure``,
        ``on_error``, the ``factstr`` logger) and the stream goes on with the next batch. ``start`` (default
        "end") may instead resume after a sequence number, or replay from the "beginning", with the same
        batch boundaries and no gap or duplicate (the HTTP server resumes ``Last-Event-ID`` with it).
        """

    def stream_all_durable(
        self,
        durable: DurableStream | str,
        handler: Handler,
        *,
        start: Start = "beginning",
        reset: bool = False,
        on_error: ErrorCallback | None = None,
    ) -> EventStream:
        """Like :meth:`stream_to_durable` for every event."""
        return self.stream_to_durable(durable, EventQuery(), handler, start=start, reset=reset, on_error=on_error)

    @abc.abstractmethod
    def stream_to_durable(
        self,
        durable: DurableStream | str,
        query: EventQuery,
        handler: Handler,
        *,
        start: Start = "beginning",
        reset: bool = False,
        on_error: ErrorCallback | None = None,
    ) -> EventStream:
        """Replay every matching batch after the stored cursor, then go on live, with no gap or duplicate.

        A new name starts at ``start`` ("beginning", "end", or after a sequence number); so does an existing
        one with ``reset=True``, which also replaces its query. Raises DurableStreamMismatch when the name
        is stored with another query, DurableStreamActive while another holder has it. A handler that raises
        stops the stream at the failed batch; registering again resumes there.
        """

    @abc.abstractmethod
    def durable_streams(self) -> list[DurableStreamInfo]:
        """Return every stored durable cursor, sorted by name."""

    @abc.abstractmethod
    def durable_stream(self, durable: DurableStream | str) -> DurableStreamInfo | None:
        """Return one stored durable cursor, or ``None`` if the name has none."""

    @abc.abstractmethod
    def reset_durable_stream(self, durable: DurableStream | str, position: int) -> None:
        """Set a stored cursor so that the next registration resumes after ``position`` (0 to 2**63 - 1).

        Raises DurableStreamActive while the name is held and UnknownDurableStream if it has no cursor.
        """

    @abc.abstractmethod
    def delete_durable_stream(self, durable: DurableStream | str) -> None:
        """Delete a stored cursor (nothing happens if there is none); raises DurableStreamActive while held."""

    # --- lifecycle ---------------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Stop every stream of this store (storing their cursors), then release connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with self._streams_lock:
            streams = list(self._streams)
        for stream in streams:
            stream.unsubscribe()
        self._close_backend()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- what the stream runtime and the server ask of any store ---------------------------------------

    def stream_ended(self, stream: EventStream) -> None:
        """Forget a stopped stream."""
        with self._streams_lock:
            self._streams.discard(stream)

    def _cancel_statement(self, thread_id: int) -> bool:
        """Cancel the database statement the thread ``thread_id`` runs for this store, if the store can.

        For callers that give up waiting (an HTTP client that went away). Returns whether a cancel was sent;
        the interrupted call then raises BackendError in its own thread. Stores without statements to cancel
        return ``False``.
        """
        return False

    # --- helpers -----------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed()

    def _durable_arguments(
        self, durable: DurableStream | str, query: EventQuery, start: Start, reset: bool
    ) -> tuple[str, Filters, Start]:
        """Validate the arguments of a durable registration; return the name, the filters and the start."""
        name = check_durable_name(durable)
        filters = check_unbounded(check_query(query), "query", "a stream")
        where = check_start(start)
        if type(reset) is not bool:
            raise InvalidInput(f"reset must be a bool, got {type(reset).__name__}")
        self._check_open()
        return name, filters, where

    def _start_stream(
        self,
        source: StreamSource,
        filters: Filters,
        handler: Handler,
        *,
        position: int,
        durable_name: str | None = None,
        hold: Hold | None = None,
        on_error: ErrorCallback | None = None,
    ) -> EventStream:
        """Run a stream over ``source`` on the shared runtime; a hold it was given is released if that fails."""
        try:
            self._watch_other_processes()
            stream = EventStream(
                source,
                filters,
                handler,
                position=position,
                durable_name=durable_name,
                hold=hold,
                on_error=on_error,
                poll_interval=self._poll_interval,
            )
            with self._streams_lock:
                self._streams.add(stream)
            stream.start()
        except BaseException:
            if hold is not None:
                hold.release()
            raise
        return stream

    def _watch_other_processes(self) -> None:
        """Make commits of other processes wake this store's streams; called before every stream starts.

        Stores shared between processes start their watcher here (once), so that a store nobody streams
        from runs no watcher at all. The default does nothing: nothing else can write to the log.
        """
        return

    # --- what each store implements ----------------------------------------------------------------------

    @abc.abstractmethod
    def _append(
        self,
        events: list[PreparedEvent],
        condition: Condition | None,
        *,
        occurred_at: datetime | None = None,
        idempotency: Idempotency | None = None,
    ) -> AppendResult:
        """Commit one batch, if ``condition`` holds; raise ConditionalAppendConflict otherwise.

        ``occurred_at`` (UTC) replaces the commit time only for :meth:`import_batch`. With ``idempotency``, a
        key the log holds returns its batch's result (another digest: InvalidInput) before the condition is
        checked, and a committed batch stores its key in the same transaction.
        """

    @abc.abstractmethod
    def _query(self, query: PreparedQuery) -> QueryResult:
        """Run a validated query from one snapshot."""

    @abc.abstractmethod
    def _head(self) -> int:
        """Return the highest committed sequence number, 0 for an empty log."""

    @abc.abstractmethod
    def _close_backend(self) -> None:
        """Release connections and background threads; called once, after every stream stopped."""


class LocalStore(EventStore):
    """The base of the stores that keep the log themselves (memory, SQLite, PostgreSQL).

    It implements streams and durable cursors once, over a small set of backend methods each local store
    provides: read matching records after a position, and keep durable cursors and holds. It is also the
    stores' :class:`~factstr._streams.StreamSource`. A store that forwards the contract elsewhere (the HTTP
    client) derives from :class:`EventStore` directly and has none of these hooks.
    """

    __module__ = "factstr"

    def stream_to(
        self,
        query: EventQuery,
        handler: Handler,
        *,
        start: Start = "end",
        on_error: ErrorCallback | None = None,
    ) -> EventStream:
        """Call ``handler`` with the matching events of every batch committed after this call.

        A batch without a matching event produces no call. A handler that raises is reported (``failure``,
        ``on_error``, the ``factstr`` logger) and the stream goes on with the next batch. ``start`` (default
        "end") may instead resume after a sequence number, or replay from the "beginning", with the same
        batch boundaries and no gap or duplicate (the HTTP server resumes ``Last-Event-ID`` with it).
        """
        filters = check_unbounded(check_query(query), "query", "a stream")
        where = check_start(start)
        self._check_open()
        return self._start_stream(self, filters, handler, position=self._start_position(where), on_error=on_error)

    def stream_to_durable(
        self,
        durable: DurableStream | str,
        query: EventQuery,
        handler: Handler,
        *,
        start: Start = "beginning",
        reset: bool = False,
        on_error: ErrorCallback | None = None,
    ) -> EventStream:
        """Replay every matching batch after the stored cursor, then go on live, with no gap or duplicate.

        A new name starts at ``start`` ("beginning", "end", or after a sequence number); so does an existing
        one with ``reset=True``, which also replaces its query. Raises DurableStreamMismatch when the name
        is stored with another query, DurableStreamActive while another holder has it. A handler that raises
        stops the stream at the failed batch; registering again resumes there.
        """
        name, filters, where = self._durable_arguments(durable, query, start, reset)
        filters_json = filters_to_json(filters)
        hold = self._acquire_hold(name)
        try:
            stored = self._load_cursor(name)
            if stored is None or reset:
                position = self._start_position(where)
                self._save_cursor(name, filters_json, position)
            elif stored.filters_json != filters_json:
                raise DurableStreamMismatch(
                    f"durable stream {name!r} is stored with another query; pass reset=True to replace it"
                )
            else:
                position = stored.cursor
        except BaseException:
            hold.release()
            raise
        return self._start_stream(
            self, filters, handler, position=position, durable_name=name, hold=hold, on_error=on_error
        )

    def durable_streams(self) -> list[DurableStreamInfo]:
        """Return every stored durable cursor, sorted by name."""
        self._check_open()
        head = self._head()
        return [self._info(cursor, head) for cursor in sorted(self._list_cursors())]

    def durable_stream(self, durable: DurableStream | str) -> DurableStreamInfo | None:
        """Return one stored durable cursor, or ``None`` if the name has none."""
        name = check_durable_name(durable)
        self._check_open()
        stored = self._load_cursor(name)
        return None if stored is None else self._info(stored, self._head())

    def reset_durable_stream(self, durable: DurableStream | str, position: int) -> None:
        """Set a stored cursor so that the next registration resumes after ``position`` (0 to 2**63 - 1).

        Raises DurableStreamActive while the name is held and UnknownDurableStream if it has no cursor.
        """
        name = check_durable_name(durable)
        if position is None:
            raise InvalidInput("position must be a non-negative int (0: before the first event)")
        cursor = check_sequence_number(position, "position")
        self._check_open()
        hold = self._acquire_hold(name)
        try:
            stored = self._load_cursor(name)
            if stored is None:
                raise UnknownDurableStream(f"no durable stream named {name!r}")
            self._save_cursor(name, stored.filters_json, cursor)
        finally:
            hold.release()

    def delete_durable_stream(self, durable: DurableStream | str) -> None:
        """Delete a stored cursor (nothing happens if there is none); raises DurableStreamActive while held."""
        name = check_durable_name(durable)
        self._check_open()
        hold = self._acquire_hold(name)
        try:
            self._delete_cursor(name)
        finally:
            hold.release()

    # --- the stream runtime's view of the store (StreamSource) -------------------------------------------

    def read_batches(self, after: int, filters: Filters) -> tuple[list[list[EventRecord]], int]:
        """Return the whole committed batches of matching records after ``after``, and how far it read."""
        if self._closed:
            raise StoreClosed()
        records, starts, horizon = self._scan(after, filters, READ_CHUNK)
        if len(records) >= READ_CHUNK:
            last_start = starts[-1]
            if starts[0] != last_start:
                # The last batch may go on past the chunk: leave it for the next read, which starts with it.
                cut = starts.index(last_start)
                del records[cut:], starts[cut:]
            else:
                # One batch larger than a chunk: read on until it ends, so it is delivered whole.
                while True:
                    more = self._scan(records[-1].sequence_number, filters, READ_CHUNK)
                    same = 0
                    while same < len(more.records) and more.batch_starts[same] == last_start:
                        same += 1
                    records.extend(more.records[:same])
                    starts.extend(more.batch_starts[:same])
                    if same < len(more.records) or len(more.records) < READ_CHUNK:
                        break
            horizon = records[-1].sequence_number
        batches: list[list[EventRecord]] = []
        current = -1
        for record, batch_start in zip(records, starts, strict=True):
            if batch_start != current:
                batches.append([])
                current = batch_start
            batches[-1].append(record)
        return batches, horizon

    def store_cursor(self, name: str, cursor: int) -> None:
        """Move a durable cursor forward (never backwards)."""
        self._advance_cursor(name, cursor)

    def _start_position(self, where: Start) -> int:
        """The position a stream starts after: 0 for "beginning", the head for "end", else the number."""
        if where == "end":
            return self._head()
        return 0 if where == "beginning" else int(where)

    def _info(self, stored: StoredCursor, head: int) -> DurableStreamInfo:
        return DurableStreamInfo(
            name=stored.name,
            query=filters_to_query(filters_from_json(stored.filters_json)),
            cursor=stored.cursor or None,
            head=head or None,
            lag=max(head - stored.cursor, 0),
            active=self._is_held(stored.name),
        )

    # --- what each local store implements ----------------------------------------------------------------

    @abc.abstractmethod
    def _scan(self, after: int, filters: Filters, limit: int) -> Scan:
        """Return up to ``limit`` matching records after ``after`` with their batch starts (one snapshot)."""

    @abc.abstractmethod
    def _load_cursor(self, name: str) -> StoredCursor | None:
        """Return the stored cursor of ``name``, if any."""

    @abc.abstractmethod
    def _save_cursor(self, name: str, filters_json: str, cursor: int) -> None:
        """Create or replace the cursor of ``name``."""

    @abc.abstractmethod
    def _advance_cursor(self, name: str, cursor: int) -> None:
        """Set the cursor of ``name`` to ``cursor`` if that is forward; never backwards."""

    @abc.abstractmethod
    def _list_cursors(self) -> list[StoredCursor]:
        """Return every stored cursor."""

    @abc.abstractmethod
    def _delete_cursor(self, name: str) -> None:
        """Delete the cursor of ``name`` if it exists."""

    @abc.abstractmethod
    def _acquire_hold(self, name: str) -> Hold:
        """Take the exclusive hold on ``name`` across processes, or raise DurableStreamActive."""

    @abc.abstractmethod
    def _is_held(self, name: str) -> bool:
        """Return whether some holder, in any process, has ``name``."""
