"""SQLiteStore: the persistent embedded store, shared safely by threads and by processes on one file.

Writes go through one writer connection under ``_write_lock``; each write transaction starts with
``BEGIN IMMEDIATE``, which takes the file's write lock before anything is read, so a condition check and the
insert that depends on it see the same state in every process. Writers of all processes queue for that lock
on a flock (:mod:`._writelock`) and wake the other processes' streams after each commit (:mod:`._wake`).
Appends waiting for the writer are committed together (group commit, :mod:`factstr._group`): one transaction and
one fsync for all of them, each with its own condition check and its own result. Reads use pooled reader
connections, each read inside one short snapshot.
"""

from __future__ import annotations

import heapq
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple, Self

import msgspec

from .._errors import (
    CONFLICT_FACTS_LIMIT,
    AppendOutcomeUnknown,
    BackendError,
    ConditionalAppendConflict,
    EventStoreError,
    InvalidInput,
    StoreClosed,
)
from .._group import GroupCommitter, GroupRefused, Outcome
from .._matching import Filters, query_matches
from .._model import AppendResult, EventRecord, QueryResult
from .._store import Condition, EventStore, Scan, StoredCursor, replayed
from .._streams import SAFETY_POLL_SECONDS
from .._validation import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    Idempotency,
    PreparedEvent,
    PreparedQuery,
    check_positive_number,
)
from . import _holds, _schema, _sql
from ._connections import ReaderPool, open_connection
from ._terms import payload_document
from ._wake import WakeSender, wake_directory
from ._watch import WATCH_INTERVAL_SECONDS, CommitWatcher
from ._writelock import WriteLock

Durability = Literal["full", "normal"]
_SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}

# Candidate rows read per statement. A context check usually stops at its first candidate, so its first chunk
# is small; a query returns what it reads, so it starts larger. Chunks grow so that long reads cost few statements.
_FIRST_VERSION_CHUNK = 16
_FIRST_QUERY_CHUNK = 256
_MAX_CHUNK = 2048

# Plans of recent reads, by the encoding of their filters: a command reads its context and then checks it again
# inside the write transaction, and a stream reads the same filters after every wake-up. A plan only chooses the
# indexes to walk (every plan finds every match), so a recent one is as good, and reusing it keeps the probes out
# of the write transaction. It is made again after _PLAN_SECONDS, so that it follows what the log holds.
_PLAN_SECONDS = 1.0
_PLANS_KEPT = 256

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_decode = msgspec.json.decode
_encode = msgspec.json.encode

# A row of _sql.RECORD_COLUMNS: seq, batch_start, occurred_at (microseconds), event_type, payload.
_Row = tuple[int, int, int, str, str]


class _Batch(NamedTuple):
    """One append for the group committer: its events, their term documents, its condition, an imported commit
    time."""

    events: list[PreparedEvent]
    documents: list[str]
    condition: Condition | None
    occurred_at: int | None  # microseconds since the epoch, only for an imported batch
    idempotency: Idempotency | None


# SQLite result codes that say the database (not a batch) failed: retrying the batches one by one cannot help,
# and after a busy timeout it would make each of them wait again.
_UNWELL = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_CORRUPT",
    "SQLITE_NOMEM",
    "SQLITE_CANTOPEN",
    "SQLITE_READONLY",
    "SQLITE_PROTOCOL",
    "SQLITE_NOTADB",
    "SQLITE_INTERRUPT",
)


class SQLiteStore(EventStore):
    """The persistent embedded store: one SQLite file in WAL mode, shared by threads and processes.

    ``durability="full"`` (the default) makes every append durable on disk before it returns;
    ``"normal"`` may lose the last appends on power loss (never on a crash of the process) but never corrupts
    the file. ``busy_timeout`` is how long a write waits for other writers, in seconds. Streams receive the
    commits of other processes as soon as their writer wakes them (at once, for FACTSTR writers), and within
    ``watch_interval`` seconds otherwise.
    """

    __module__ = "factstr"

    # Whether one transaction may commit the appends of several threads (switched off only to measure it).
    _group_commit = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: Durability = "full",
        busy_timeout: float = 5.0,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        poll_interval: float = SAFETY_POLL_SECONDS,
        watch_interval: float = WATCH_INTERVAL_SECONDS,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidInput(f"path must be a str or path, got {type(path).__name__}")
        text = os.fspath(path)
        if not isinstance(text, str) or not text or text == ":memory:" or text.startswith("file:"):
            raise InvalidInput(f"path must name a database file, got {text!r}")
        if durability not in _SYNCHRONOUS:
            raise InvalidInput(f'durability must be "full" or "normal", got {durability!r}')
        busy_timeout = check_positive_number(busy_timeout, "busy_timeout")
        watch_interval = check_positive_number(watch_interval, "watch_interval")
        super().__init__(max_payload_bytes=max_payload_bytes, poll_interval=poll_interval)
        self._path = os.path.abspath(text)
        self._durability = durability
        self._busy_timeout = busy_timeout
        self._watch_interval = watch_interval
        self._locks_directory = _holds.lock_directory(self._path)
        # Guards the writer connection: appends (through the group committer's leader) and cursor writes.
        self._write_lock = threading.Lock()
        self._committer = GroupCommitter(self._commit_group, grouping=self._group_commit)
        self._watcher: CommitWatcher | None = None
        self._watcher_lock = threading.Lock()
        self._plans: dict[bytes, tuple[float, _sql.Plan]] = {}
        self._writer = self._open_writer()
        try:
            self._writers_lock = self._open_writers_lock()
        except BaseException:
            self._writer.close()
            raise
        # Wakes the streams of other stores on the file (in any process) after each commit; under _write_lock.
        self._wake_sender = WakeSender(wake_directory(self._locks_directory))
        self._readers = ReaderPool(self._path, busy_timeout=busy_timeout)

    def __enter__(self) -> Self:
        return self

    def __repr__(self) -> str:
        return f"<factstr.SQLiteStore path={self._path!r} durability={self._durability!r}>"

    @property
    def path(self) -> str:
        """The absolute path of the database file."""
        return self._path

    # --- opening -----------------------------------------------------------------------------------------

    def _open_writer(self) -> sqlite3.Connection:
        try:
            os.makedirs(os.path.dirname(self._path), exist_ok=True)
        except OSError as exc:
            raise BackendError(f"cannot create the directory of {self._path!r}: {exc}") from exc
        if os.path.isdir(self._path):
            raise InvalidInput(f"{self._path!r} is a directory, not a database file")
        try:
            connection = open_connection(
                self._path,
                busy_timeout=self._busy_timeout,
                synchronous=_SYNCHRONOUS[self._durability],
                query_only=False,
            )
        except sqlite3.Error as exc:
            raise self._open_error(exc) from exc
        try:
            # Identify the file before the first write: a file that is not ours is left byte for byte as it was.
            _schema.identify(connection, self._path)
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise BackendError(f"{self._path!r}: could not switch to WAL mode (journal_mode is {mode!r})")
            _schema.migrate(connection, self._path)
        except sqlite3.Error as exc:
            connection.close()
            raise self._open_error(exc) from exc
        except BaseException:
            connection.close()
            raise
        return connection

    def _open_writers_lock(self) -> WriteLock:
        try:
            os.makedirs(self._locks_directory, exist_ok=True)
            return WriteLock(os.path.join(self._locks_directory, "writer"))
        except OSError as exc:
            raise BackendError(f"cannot open the writers' lock in {self._locks_directory!r}: {exc}") from exc

    def _open_error(self, exc: sqlite3.Error) -> EventStoreError:
        name = getattr(exc, "sqlite_errorname", "")
        if name == "SQLITE_NOTADB":
            return InvalidInput(f"{self._path!r} is not a FACTSTR database (not a SQLite file); left untouched")
        if name.startswith("SQLITE_READONLY") or name.startswith("SQLITE_CANTOPEN"):
            return BackendError(
                f"cannot open {self._path!r} for writing ({exc}): the file and its directory must be writable "
                "(SQLite keeps its -wal and -shm files next to the database)"
            )
        return BackendError(f"cannot open {self._path!r}: {exc}")

    # --- errors ------------------------------------------------------------------------------------------

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        """Turn a sqlite3 exception into a FACTSTR error (StoreClosed once the store is closed)."""
        try:
            yield
        except sqlite3.Error as exc:
            raise self._error(exc, action) from exc

    def _error(self, exc: sqlite3.Error, action: str) -> EventStoreError:
        if self._closed:
            return StoreClosed()
        return BackendError(f"sqlite {action} failed on {self._path!r}: {exc}")

    # --- writing -----------------------------------------------------------------------------------------

    def _append(
        self,
        events: list[PreparedEvent],
        condition: Condition | None,
        *,
        occurred_at: datetime | None = None,
        idempotency: Idempotency | None = None,
    ) -> AppendResult:
        micros = None if occurred_at is None else (occurred_at - _EPOCH) // timedelta(microseconds=1)
        # Hashing happens in the caller's thread, before the batch waits for the writer.
        documents = [payload_document(event.payload) for event in events]
        return self._committer.append(_Batch(events, documents, condition, micros, idempotency))

    def _commit_group(self, group: list[_Batch]) -> list[Outcome]:
        """Commit a group of appends in one transaction; return each one's result or its own error.

        Raises GroupRefused when SQLite refused the group's writes (nothing is committed then), so that the
        committer can find the batch at fault by committing each alone.
        """
        with self._write_lock:
            if not self._writers_lock.acquire(self._busy_timeout):
                return [self._locked_error() for _ in group]
            try:
                outcomes = self._commit_locked(group)
            finally:
                self._writers_lock.release()
            if any(isinstance(outcome, AppendResult) for outcome in outcomes):
                self._wake_sender.wake()
        return outcomes

    def _commit_locked(self, group: list[_Batch]) -> list[Outcome]:
        connection = self._writer
        try:
            outcomes = self._write_group(connection, group)
        except Exception as exc:
            self._rollback(connection)
            if self._closed or (getattr(exc, "sqlite_errorname", None) or "").startswith(_UNWELL):
                return [self._write_error(exc) for _ in group]
            raise GroupRefused(self._write_error(exc)) from exc
        except BaseException:
            self._rollback(connection)
            raise
        try:
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback(connection)
            failed: list[Outcome] = []
            for outcome in outcomes:
                error: EventStoreError
                if isinstance(outcome, AppendResult):
                    error = AppendOutcomeUnknown(
                        f"sqlite commit failed on {self._path!r} ({exc}); the append may or may not be in the log"
                    )
                else:  # its conflict was decided against rows that may not exist
                    error = self._error(exc, "append")
                error.__cause__ = exc
                failed.append(error)
            return failed
        return outcomes

    def _locked_error(self, action: str = "append") -> EventStoreError:
        """The error of a write that waited ``busy_timeout`` for the writers' lock in vain (nothing committed)."""
        if self._closed:
            return StoreClosed()
        return BackendError(
            f"sqlite {action} failed on {self._path!r}: database is locked (another writer held it for "
            f"{self._busy_timeout:g} s)"
        )

    def _write_error(self, exc: Exception) -> EventStoreError:
        """The error for writes that failed before COMMIT (nothing was committed)."""
        if self._closed:
            return StoreClosed()
        if isinstance(exc, sqlite3.Error):
            error = self._error(exc, "append")
        elif isinstance(exc, (UnicodeError, OverflowError)):
            # The driver could not bind a value: validation lets none through, so this is a defect, but the
            # batch's own (nothing was committed).
            error = InvalidInput(f"sqlite cannot store a value of this append ({exc}); nothing was committed")
        else:
            error = BackendError(f"append failed on {self._path!r}: {exc!r}")
        error.__cause__ = exc
        return error

    def _write_group(self, connection: sqlite3.Connection, group: list[_Batch]) -> list[Outcome]:
        """Write a group inside one BEGIN IMMEDIATE transaction (left open for the caller to commit)."""
        # BEGIN IMMEDIATE takes the file's write lock now (waiting up to busy_timeout for another process),
        # so the head read below and each condition check cannot be overtaken by another writer.
        connection.execute("BEGIN IMMEDIATE")
        head: int = connection.execute(_sql.SELECT_HEAD).fetchone()[0]
        occurred_at = time.time_ns() // 1000
        outcomes: list[Outcome] = []
        for batch in group:
            idempotency = batch.idempotency
            if idempotency is not None:
                # A key the log holds decides before the condition: the retry of a committed batch returns its
                # result even when its condition would fail now.
                known = connection.execute(_sql.SELECT_IDEMPOTENCY_KEY, (idempotency.key,)).fetchone()
                if known is not None:
                    outcomes.append(replayed(idempotency, *known))
                    continue
            condition = batch.condition
            if condition is not None:
                # Sees the rows of the earlier batches of this group: they are in this transaction.
                actual = self._context_version(connection, condition.filters, head)
                if actual != condition.expected:
                    outcomes.append(self._conflict(connection, condition, actual))
                    continue
            first = head + 1
            stamp = occurred_at if batch.occurred_at is None else batch.occurred_at
            count = len(batch.events)
            connection.executemany(
                _sql.INSERT_EVENT,
                [
                    (sequence, first, stamp, event.event_type, event.payload_json)
                    for sequence, event in enumerate(batch.events, first)
                ],
            )
            connection.executemany(_sql.INSERT_TERMS, enumerate(batch.documents, first))
            head = first + count - 1
            if idempotency is not None:
                connection.execute(_sql.INSERT_IDEMPOTENCY_KEY, (idempotency.key, idempotency.digest, first, head))
            outcomes.append(AppendResult(first, head, count))
        return outcomes

    def _conflict(
        self, connection: sqlite3.Connection, condition: Condition, actual: int | None
    ) -> ConditionalAppendConflict:
        """The conflict with the context's facts in (expected, actual], read in the transaction that found it."""
        plan = self._plan(connection, condition.filters)
        reader = _RecordReader(condition.filters)
        facts: list[EventRecord] = []
        low, high = condition.expected or 0, actual or 0
        for row in self._walk(connection, plan, low, high, False, min(CONFLICT_FACTS_LIMIT + 1, _MAX_CHUNK)):
            record = reader.record(row)
            if record is not None:
                facts.append(record)
                if len(facts) > CONFLICT_FACTS_LIMIT:
                    break
        truncated = len(facts) > CONFLICT_FACTS_LIMIT
        return ConditionalAppendConflict(condition.expected, actual, facts[:CONFLICT_FACTS_LIMIT], truncated)

    @staticmethod
    def _rollback(connection: sqlite3.Connection) -> None:
        try:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the connection is broken; the transaction dies with it

    @contextmanager
    def _write_transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        """Run a small write (a cursor) in its own BEGIN IMMEDIATE transaction on the writer connection."""
        with self._write_lock:
            if not self._writers_lock.acquire(self._busy_timeout):
                raise self._locked_error(action)
            try:
                with self._translated(action):
                    connection = self._writer
                    connection.execute("BEGIN IMMEDIATE")
                    try:
                        yield connection
                        connection.execute("COMMIT")
                    except BaseException:
                        self._rollback(connection)
                        raise
            finally:
                self._writers_lock.release()

    # --- reading -----------------------------------------------------------------------------------------

    def _head(self) -> int:
        with self._translated("head"), self._readers.connection() as connection:
            head: int = connection.execute(_sql.SELECT_HEAD).fetchone()[0]
        return head

    def _query(self, query: PreparedQuery) -> QueryResult:
        filters = query.filters
        records: list[EventRecord] = []
        with self._translated("query"), self._readers.snapshot() as connection:
            head: int = connection.execute(_sql.SELECT_HEAD).fetchone()[0]
            top = query.top(head)  # the upper bound is a range on seq, like the lower one
            plan = self._plan(connection, filters)
            version: int | None = None
            searched_from = top  # the highest number not yet known to be above every match
            reader = _RecordReader(filters)
            if query.limit != 0:
                first_chunk = _FIRST_QUERY_CHUNK if query.limit is None else min(query.limit, _FIRST_QUERY_CHUNK)
                rows = self._walk(connection, plan, query.min_sequence_number, top, query.backwards, first_chunk)
                complete = True
                for row in rows:
                    record = reader.record(row)
                    if record is not None:
                        records.append(record)
                        if query.limit is not None and len(records) >= query.limit:
                            complete = False
                            break
                if records and (complete or query.backwards):
                    # The highest returned number is the highest match: nothing above it went unread.
                    version = max(records[0].sequence_number, records[-1].sequence_number)
                    searched_from = 0
                elif complete:
                    searched_from = min(query.min_sequence_number, top)
            if searched_from:
                # The highest match of the whole log is the first one met walking down from there.
                version = self._version_below(connection, plan, filters, searched_from)
        last = records[-1].sequence_number if records else None
        return QueryResult(records, last, version, head or None)

    def _scan(self, after: int, filters: Filters, limit: int) -> Scan:
        records: list[EventRecord] = []
        starts: list[int] = []
        with self._translated("scan"), self._readers.snapshot() as connection:
            head: int = connection.execute(_sql.SELECT_HEAD).fetchone()[0]
            plan = self._plan(connection, filters)
            reader = _RecordReader(filters)
            for row in self._walk(connection, plan, after, head, False, min(limit, _MAX_CHUNK)):
                record = reader.record(row)
                if record is not None:
                    records.append(record)
                    starts.append(row[1])
                    if len(records) >= limit:
                        return Scan(records, starts, record.sequence_number)
        return Scan(records, starts, head)

    def _context_version(self, connection: sqlite3.Connection, filters: Filters, head: int) -> int | None:
        return self._version_below(connection, self._plan(connection, filters), filters, head)

    def _version_below(self, connection: sqlite3.Connection, plan: _sql.Plan, filters: Filters, top: int) -> int | None:
        """Return the highest matching number in ``(0, top]``: walk candidates down until the matcher agrees."""
        for row in self._walk(connection, plan, 0, top, True, _FIRST_VERSION_CHUNK):
            if filters is None or query_matches(filters, row[3], _decode(row[4])):
                return row[0]
        return None

    def _plan(self, connection: sqlite3.Connection, filters: Filters) -> _sql.Plan:
        key = _encode(filters)
        now = time.monotonic()
        recent = self._plans.get(key)
        if recent is not None and now - recent[0] < _PLAN_SECONDS:
            return recent[1]
        plan = self._new_plan(connection, filters)
        if len(self._plans) >= _PLANS_KEPT:
            self._plans.clear()
        self._plans[key] = (now, plan)
        return plan

    def _new_plan(self, connection: sqlite3.Connection, filters: Filters) -> _sql.Plan:
        estimates: dict[tuple[str, str], int] = {}

        def estimate(source: _sql.Source) -> int:
            # Memoised: one probe per index value per query, each counting at most PROBE_LIMIT postings.
            key = ("type", source.event_type) if isinstance(source, _sql.TypeSource) else ("term", source.word)
            if key not in estimates:
                if isinstance(source, _sql.TypeSource):
                    count = connection.execute(_sql.PROBE_TYPE, (source.event_type,)).fetchone()[0]
                else:
                    count = connection.execute(_sql.PROBE_TERM, (source.word,)).fetchone()[0]
                estimates[key] = count
            return estimates[key]

        return _sql.plan_query(filters, estimate)

    @staticmethod
    def _walk(
        connection: sqlite3.Connection, plan: _sql.Plan, low: int, high: int, backwards: bool, chunk: int
    ) -> Iterator[_Row]:
        """Yield the candidate rows with ``low < seq <= high`` in order, each once."""
        walks = [_walk_statement(connection, statement, low, high, backwards, chunk) for statement in plan.statements]
        if len(walks) == 1:
            yield from walks[0]
            return
        previous = -1
        for row in heapq.merge(*walks, key=_sequence_of, reverse=backwards):
            if row[0] != previous:  # a number found by two statements is one candidate
                previous = row[0]
                yield row

    # --- durable cursors ---------------------------------------------------------------------------------

    def _load_cursor(self, name: str) -> StoredCursor | None:
        with self._translated("load cursor"), self._readers.connection() as connection:
            row = connection.execute(_sql.SELECT_CURSOR, (name,)).fetchone()
        return None if row is None else StoredCursor(*row)

    def _save_cursor(self, name: str, filters_json: str, cursor: int) -> None:
        with self._write_transaction("save cursor") as connection:
            connection.execute(_sql.SAVE_CURSOR, (name, filters_json, cursor))

    def _advance_cursor(self, name: str, cursor: int) -> None:
        with self._write_transaction("store cursor") as connection:
            connection.execute(_sql.ADVANCE_CURSOR, (cursor, name, cursor))

    def _list_cursors(self) -> list[StoredCursor]:
        with self._translated("list cursors"), self._readers.connection() as connection:
            rows = connection.execute(_sql.SELECT_CURSORS).fetchall()
        return [StoredCursor(*row) for row in rows]

    def _delete_cursor(self, name: str) -> None:
        with self._write_transaction("delete cursor") as connection:
            connection.execute(_sql.DELETE_CURSOR, (name,))

    # --- holds -------------------------------------------------------------------------------------------

    def _acquire_hold(self, name: str) -> _holds.FileHold:
        try:
            return _holds.acquire(self._locks_directory, name)
        except OSError as exc:
            raise BackendError(f"cannot lock durable stream {name!r} in {self._locks_directory!r}: {exc}") from exc

    def _is_held(self, name: str) -> bool:
        try:
            return _holds.is_held(self._locks_directory, name)
        except OSError as exc:
            raise BackendError(f"cannot inspect the lock of durable stream {name!r}: {exc}") from exc

    # --- other processes ---------------------------------------------------------------------------------

    def _watch_other_processes(self) -> None:
        """Start the watcher of other processes' commits (once): streams need it, nothing else does."""
        if self._watcher is not None:
            return
        with self._watcher_lock:
            if self._watcher is None and not self._closed:
                watcher = CommitWatcher(
                    self._open_watch_connection,
                    self.notifier,
                    self._watch_interval,
                    wake_directory(self._locks_directory),
                )
                watcher.start()
                self._watcher = watcher
                with self._write_lock:
                    # This store's own appends notify its streams directly; a wake-up through the pipe would
                    # only make them read again.
                    self._wake_sender.skip(watcher.channel_name)

    def _open_watch_connection(self) -> sqlite3.Connection:
        return open_connection(self._path, busy_timeout=self._busy_timeout, synchronous="NORMAL", query_only=True)

    # --- closing -----------------------------------------------------------------------------------------

    def _close_backend(self) -> None:
        with self._watcher_lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
        self._readers.close()
        # Taking the write lock waits for an append in progress to finish.
        with self._write_lock:
            self._writer.close()
            self._wake_sender.close()
            self._writers_lock.close()


def _walk_statement(
    connection: sqlite3.Connection, statement: _sql.Statement, low: int, high: int, backwards: bool, chunk: int
) -> Iterator[_Row]:
    """Yield the rows one statement finds with ``low < seq <= high`` in order, a chunk per execution."""
    sql = statement.backward_sql if backwards else statement.forward_sql
    parameters = dict(statement.values)
    while low < high:
        parameters.update(low=low, high=high, limit=chunk)
        rows: list[_Row] = connection.execute(sql, parameters).fetchall()
        yield from rows
        if len(rows) < chunk:
            return  # fewer than asked for: nothing is left in the range
        if backwards:
            high = rows[-1][0] - 1
        else:
            low = rows[-1][0]
        chunk = min(chunk * 4, _MAX_CHUNK)


def _sequence_of(row: _Row) -> int:
    return row[0]


class _RecordReader:
    """Turns the candidate rows of one read into records, dropping those the reference matcher rejects.

    Rows of one batch share their commit time, so the datetime is built once per batch, not once per row.
    """

    __slots__ = ("_filters", "_micros", "_occurred_at")

    def __init__(self, filters: Filters) -> None:
        self._filters = filters
        self._micros = -1
        self._occurred_at = _EPOCH

    def record(self, row: _Row) -> EventRecord | None:
        """Return the record of a candidate row, or ``None`` when it does not match."""
        sequence, _batch_start, micros, event_type, payload_json = row
        payload = _decode(payload_json)
        if self._filters is not None and not query_matches(self._filters, event_type, payload):
            return None
        if micros != self._micros:
            self._micros = micros
            self._occurred_at = _EPOCH + timedelta(microseconds=micros)
        return EventRecord(sequence, self._occurred_at, event_type, payload)
