"""PostgresStore: the log in PostgreSQL, shared by any number of processes and machines.

An append is one round trip: a server-side function evaluates each condition, locks the head row, checks only
what was committed since, inserts the events with their postings, moves the head and notifies, and the statement
commits. Concurrent appends of one process are grouped into one such call (:mod:`factstr._group`). Reads are single
statements, so each sees one snapshot, and never wait for writers. Queries and conditions travel as one JSON
parameter (:func:`._terms.context_spec`) and match through the posting index (:mod:`._functions`). Other
processes' commits reach this store's streams through LISTEN/NOTIFY (:mod:`._listen`); durable names are held with
advisory locks (:mod:`._holds`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec
import psycopg
from psycopg import sql

from .._errors import (
    CONFLICT_FACTS_LIMIT,
    AppendOutcomeUnknown,
    BackendError,
    ConditionalAppendConflict,
    EventStoreError,
    InvalidInput,
)
from .._group import GroupCommitter, GroupRefused, Outcome
from .._matching import Filters
from .._model import AppendResult, EventRecord, QueryResult
from .._store import Condition, LocalStore, Scan, StoredCursor, replayed
from .._streams import SAFETY_POLL_SECONDS
from .._validation import DEFAULT_MAX_PAYLOAD_BYTES, MAX_SEQUENCE_NUMBER, Idempotency, PreparedEvent, PreparedQuery
from . import _prepared, _sql
from ._connection import connect, open_pool, parse_target, translate, translate_errors
from ._holds import Holds, PostgresHold
from ._jsonb import jsonb_text
from ._listen import Listener
from ._schema import migrate, notify_channel
from ._statistics import StatisticsKeeper
from ._terms import context_spec, payload_terms, type_key
from ._window import Window

_decode = msgspec.json.decode
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_bigint = _prepared.bigint_of
_timestamptz = _prepared.timestamptz_of

DEFAULT_POOL_SIZE = 8
DEFAULT_POOL_TIMEOUT = 30.0
# Contexts whose last query's version and head the store remembers (see _remember); cleared when full.
_REMEMBERED_VERSIONS = 4096

# SQLSTATE classes that say the server or the session failed, not a batch: connection exception, invalid
# transaction state, transaction rollback, insufficient resources, object not in prerequisite state (lock
# timeouts), operator intervention, system error, internal error. Retrying the batches one by one cannot help.
_UNWELL_CLASSES = frozenset({"08", "25", "40", "53", "55", "57", "58", "XX"})
# ... except query_canceled (statement_timeout): one batch's slow context check may be the cause.
_RETRYABLE_STATES = frozenset({"57014"})


class _Batch(NamedTuple):
    """One append for the group committer: its events with their type keys and terms, its condition with the
    condition's context spec, and an imported commit time."""

    events: list[PreparedEvent]
    type_keys: list[int]
    terms: list[list[int]]
    condition: Condition | None
    spec: str | None  # the condition's context spec
    seen_head: int | None  # the head at which a query found the context at the expected version
    occurred_at: datetime | None  # only for an imported batch
    idempotency: Idempotency | None


class PostgresStore(LocalStore):
    """A store in a PostgreSQL schema (default ``factstr``), shared safely by many processes.

    ``url`` is a ``postgresql://`` URL or libpq connection string; a ``schema`` URL parameter or keyword picks
    the PostgreSQL schema, created and migrated on open. ``pool_size`` caps this store's pooled connections
    (it also keeps one connection for LISTEN once a stream runs, and one for durable holds once one is taken).
    ``statement_timeout`` (seconds, default 30, 0 for none; also a URL parameter) bounds every statement.
    Raises BackendError naming host and port when the server cannot be reached, SchemaVersionError when the
    schema was written by a newer FACTSTR.
    """

    __module__ = "factstr"

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        pool_timeout: float = DEFAULT_POOL_TIMEOUT,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        poll_interval: float = SAFETY_POLL_SECONDS,
        statement_timeout: float | None = None,
    ) -> None:
        super().__init__(max_payload_bytes=max_payload_bytes, poll_interval=poll_interval)
        self._target = target = parse_target(url, schema, statement_timeout)
        with connect(target) as conn:
            with translate_errors(target, f"migrating schema {target.schema!r}"):
                migrate(conn, target.schema)
            self._statements = _Statements(target.schema, conn)
            with translate_errors(target, "reading the table statistics"):
                row = conn.execute(_sql.ANALYZED_ROWS, [self._statements.events]).fetchone()
                analyzed_rows = int(row[0]) if row is not None else 0
        with translate_errors(target, "opening the connection pool"):
            self._pool = open_pool(target, pool_size, pool_timeout)
        self._statistics = StatisticsKeeper(self._refresh_statistics, analyzed_rows)
        self._holds = Holds(target)
        self._committer: GroupCommitter[_Batch] = GroupCommitter(self._commit_group)
        self._listener: Listener | None = None
        self._listener_lock = threading.Lock()
        self._window = Window()
        # What recent queries found, by context spec: its version and the head of that snapshot. An append_if
        # on the same context expecting that version needs only the numbers above that head checked.
        self._versions: dict[str, tuple[int | None, int]] = {}

    def __repr__(self) -> str:
        return f"<factstr.PostgresStore {self._target.host}:{self._target.port} schema={self._target.schema!r}>"

    @property
    def schema(self) -> str:
        """The PostgreSQL schema this store lives in."""
        return self._target.schema

    @property
    def conninfo(self) -> str:
        """The libpq connection string of the store's database (FACTSTR's ``schema`` parameter removed).

        For code that keeps its own tables next to the log (query models), in the same database.
        """
        return self._target.conninfo

    # --- writing -----------------------------------------------------------------------------------------

    def _append(
        self,
        events: list[PreparedEvent],
        condition: Condition | None,
        *,
        occurred_at: datetime | None = None,
        idempotency: Idempotency | None = None,
    ) -> AppendResult:
        # Prepared by the appending thread, before it queues: the leader of a group only assembles parameters,
        # and a value that cannot be hashed fails its own append only.
        result = self._committer.append(self._batch(events, condition, occurred_at, idempotency))
        self._statistics.note_head(result.last_sequence_number)
        return result

    def _batch(
        self,
        events: list[PreparedEvent],
        condition: Condition | None,
        occurred_at: datetime | None,
        idempotency: Idempotency | None,
    ) -> _Batch:
        """One append for the group committer: its events' keys and terms, its condition's spec, and the head at
        which a query found the context at the expected version, if one just did."""
        try:
            type_keys = [type_key(event.event_type) for event in events]
            terms = [payload_terms(event.payload) for event in events]
            spec = None if condition is None else context_spec(condition.filters)
        except (UnicodeError, OverflowError) as exc:
            # Validation lets no such value through, so this is a defect, but the batch's own.
            error = InvalidInput(f"PostgreSQL cannot store a value of this append ({exc}); nothing was committed")
            raise error from exc
        seen_head = None
        if spec is not None and condition is not None:
            known = self._versions.get(spec)
            if known is not None and known[0] == condition.expected:
                seen_head = known[1]
        return _Batch(events, type_keys, terms, condition, spec, seen_head, occurred_at, idempotency)

    def _refresh_statistics(self) -> None:
        with self._pool.connection() as conn:
            conn.execute(self._statements.analyze)

    def _commit_group(self, group: list[_Batch]) -> list[Outcome]:
        """Commit a group of batches in one call; return each batch's result or its own error.

        Raises GroupRefused when the server refused the call for what it carried (nothing was committed), so
        that the committer can find the batch at fault by committing each alone.
        """
        try:
            with self._pool.connection() as conn:
                try:
                    params = _group_parameters(group)
                    result = _prepared.run(conn, self._statements.append_batches, params)
                    encoding = conn.info.encoding
                except psycopg.Error as exc:
                    if _refused(conn, exc):
                        raise GroupRefused(self._append_error(conn, exc)) from exc
                    return [self._append_error(conn, exc) for _ in group]
                except (UnicodeError, OverflowError) as exc:
                    # A value could not be encoded for the server (nothing was sent): validation lets none through, so
                    # this is a defect, but the batch's own.
                    error = InvalidInput(
                        f"PostgreSQL cannot store a value of this append ({exc}); nothing was committed"
                    )
                    raise GroupRefused(_caused_by(error, exc)) from exc
        except psycopg.Error as exc:
            # Getting a connection failed: nothing was sent, so nothing was committed.
            return [_caused_by(translate(self._target, exc, "appending"), exc) for _ in group]
        firsts = _prepared.int_array_of(result.get_value(0, 0))
        actuals = _prepared.int_array_of(result.get_value(0, 1))
        notified = result.get_value(0, 2)
        if notified is not None:
            self._window.add(notified.decode(encoding))  # before the appenders return and wake their streams
        raw_conflicts = result.get_value(0, 3)
        conflicts = {} if raw_conflicts is None else _decode(raw_conflicts)
        raw_replays = result.get_value(0, 4)
        replays = {} if raw_replays is None else _decode(raw_replays)
        outcomes: list[Outcome] = []
        for index, (batch, first, actual) in enumerate(zip(group, firsts, actuals, strict=True), start=1):
            known = replays.get(str(index))
            if known is not None:
                assert batch.idempotency is not None
                outcomes.append(replayed(batch.idempotency, *known))
            elif first is None:
                assert batch.condition is not None
                outcomes.append(_conflict(batch.condition.expected, actual, conflicts.get(str(index), [])))
            else:
                count = len(batch.events)
                outcomes.append(AppendResult(first, first + count - 1, count))
        return outcomes

    def _append_error(self, conn: psycopg.Connection[Any], exc: psycopg.Error) -> EventStoreError:
        """Classify a failed append call: known to have committed nothing, or of unknown outcome."""
        where = f"{self._target.host}:{self._target.port}"
        if conn.broken or conn.closed:
            # The statement was sent and the session died before its answer came back: the commit may or may
            # not have happened. Retrying could commit the batch twice, so the caller must decide.
            error: EventStoreError = AppendOutcomeUnknown(
                f"the connection to PostgreSQL at {where} was lost during an append; it may or may not have "
                f"committed (re-read the context before trying again): {exc}"
            )
        else:
            # The server answered with an error: the transaction was rolled back.
            error = BackendError(f"PostgreSQL at {where} refused an append; nothing was committed: {exc}")
        return _caused_by(error, exc)

    # --- reading -----------------------------------------------------------------------------------------

    def _fetch(self, statement: str, params: list[Any] | dict[str, Any], doing: str) -> list[tuple[Any, ...]]:
        """Run one idempotent statement (a read, or a cursor write that may be repeated) and return its rows.

        If the connection turns out dead (the server restarted, or killed an idle session faster than the
        pool's check could see), the statement runs once more on a fresh connection: repeating it is harmless,
        unlike repeating an append.
        """
        with translate_errors(self._target, doing):
            for attempt in (1, 2):
                with self._pool.connection() as conn:
                    try:
                        cursor = conn.execute(statement, params, prepare=True)
                        return cursor.fetchall() if cursor.description is not None else []
                    except psycopg.OperationalError:
                        if attempt == 2 or not conn.broken:
                            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _run(
        self, statement: _prepared.Prepared, params: Sequence[str | None], doing: str, *, binary: bool = True
    ) -> Any:
        """Run one idempotent hot statement (a read) and return its raw result; like :meth:`_fetch`, once more on
        a fresh connection if the first turned out dead."""
        with translate_errors(self._target, doing):
            for attempt in (1, 2):
                with self._pool.connection() as conn:
                    try:
                        return _prepared.run(conn, statement, params, binary=binary)
                    except psycopg.OperationalError:
                        if attempt == 2 or not conn.broken:
                            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _head(self) -> int:
        return int(self._run(self._statements.head, [], "reading the head", binary=False).get_value(0, 0))

    def _query(self, query: PreparedQuery) -> QueryResult:
        if query.filters is None:
            return self._query_all(query)
        statements = self._statements
        spec = context_spec(query.filters)
        if query.limit is None and query.min_sequence_number == 0 and query.max_sequence_number is None:
            # Every match comes back, so the newest record is the version (none: no version).
            statement = statements.query_whole_backward if query.backwards else statements.query_whole_forward
            result = self._run(statement, [spec], "querying")
            records = _records(result, 1) if result.get_value(0, 1) is not None else []
            records.sort(key=_sequence_number, reverse=query.backwards)
            newest = max(records[0].sequence_number, records[-1].sequence_number) if records else None
            head = _bigint(result.get_value(0, 0))
            self._remember(spec, newest, head)
            return QueryResult(records, records[-1].sequence_number if records else None, newest, head or None)
        statement = statements.query_backward if query.backwards else statements.query_forward
        limit = None if query.limit is None else str(query.limit)
        params = [spec, str(query.min_sequence_number), limit, _upper_bound(query)]
        result = self._run(statement, params, "querying")
        value = result.get_value(0, 0)
        version = None if value is None else _bigint(value)
        head = _bigint(result.get_value(0, 1))
        if query.max_sequence_number is None:
            self._remember(spec, version, head)
        return self._result(result, version, head, query.backwards)

    def _query_all(self, query: PreparedQuery) -> QueryResult:
        statements = self._statements
        statement = statements.query_all_backward if query.backwards else statements.query_all_forward
        limit = None if query.limit is None else str(query.limit)
        result = self._run(statement, [str(query.min_sequence_number), limit, _upper_bound(query)], "querying")
        value = result.get_value(0, 0)
        head = _bigint(result.get_value(0, 1))
        return self._result(result, None if value is None else _bigint(value), head, query.backwards)

    @staticmethod
    def _result(result: Any, version: int | None, head: int, backwards: bool) -> QueryResult:
        if result.get_value(0, 2) is None:
            return QueryResult([], None, version, head or None)
        records = _records(result, 2)
        # One outer row joined to the ordered records: the order is kept in practice, but SQL does not promise
        # it, and sorting records that are already in order costs one pass.
        records.sort(key=_sequence_number, reverse=backwards)
        return QueryResult(records, records[-1].sequence_number, version, head or None)

    def _remember(self, spec: str, version: int | None, head: int) -> None:
        versions = self._versions
        if len(versions) >= _REMEMBERED_VERSIONS:
            versions.clear()  # bounded; the contexts in use are found again at their next query
        versions[spec] = (version, head)

    def _scan(self, after: int, filters: Filters, limit: int) -> Scan:
        recent = self._window.read(after, filters, limit)
        if recent is not None:
            return recent
        if filters is None:
            result = self._run(self._statements.scan_all, [str(after), str(limit)], "reading the log")
        else:
            params = [context_spec(filters), str(after), str(limit)]
            result = self._run(self._statements.scan, params, "reading the log")
        value = result.get_value
        head = _bigint(value(0, 0))
        if value(0, 1) is None:
            return Scan([], [], head)
        starts = {_bigint(value(row, 1)): _bigint(value(row, 2)) for row in range(result.ntuples)}
        records = _records(result, 1, skip=1)
        records.sort(key=_sequence_number)
        horizon = records[-1].sequence_number if len(records) >= limit else head
        return Scan(records, [starts[record.sequence_number] for record in records], horizon)

    # --- durable cursors and holds -----------------------------------------------------------------------

    def _load_cursor(self, name: str) -> StoredCursor | None:
        rows = self._fetch(self._statements.load_cursor, [name], "reading a durable cursor")
        return StoredCursor(*rows[0]) if rows else None

    def _save_cursor(self, name: str, filters_json: str, cursor: int) -> None:
        self._fetch(self._statements.save_cursor, [name, filters_json, cursor], "storing a durable cursor")

    def _advance_cursor(self, name: str, cursor: int) -> None:
        self._fetch(self._statements.advance_cursor, [cursor, name, cursor], "storing a durable cursor")

    def _list_cursors(self) -> list[StoredCursor]:
        rows = self._fetch(self._statements.list_cursors, [], "listing durable cursors")
        return [StoredCursor(name, filters_json, cursor) for name, filters_json, cursor in rows]

    def _delete_cursor(self, name: str) -> None:
        self._fetch(self._statements.delete_cursor, [name], "deleting a durable cursor")

    def _acquire_hold(self, name: str) -> PostgresHold:
        return self._holds.acquire(name)

    def _is_held(self, name: str) -> bool:
        rows = self._fetch(_sql.IS_HELD, self._holds.is_held_sql_params(name), "looking up a durable hold")
        return bool(rows[0][0])

    # --- lifecycle ---------------------------------------------------------------------------------------

    def _cancel_statement(self, thread_id: int) -> bool:
        return self._pool.cancel(thread_id)

    def _watch_other_processes(self) -> None:
        """Start listening for other processes' commits (once): streams need it, writers never do."""
        if self._listener is not None:
            return
        with self._listener_lock:
            if self._listener is None and not self._closed:
                listener = Listener(self._target, notify_channel(self._target.schema), self.notifier, self._window)
                listener.start()
                self._listener = listener

    def _close_backend(self) -> None:
        with self._listener_lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
        self._holds.close()
        self._statistics.close()
        self._pool.close()


def _group_parameters(group: list[_Batch]) -> list[str | bytes | None]:
    """The parameters of APPEND_BATCHES for a group of batches: array literals (see :mod:`._sql`), and the arrays
    with an element per event or per posting in binary format (see :mod:`._prepared`)."""
    sizes: list[int] = []
    posting_counts: list[int] = []
    specs: list[str | None] = []
    expected: list[int | None] = []
    seen_heads: list[int | None] = []
    keys: list[str | None] = []
    digests: list[str | None] = []
    event_types: list[str] = []
    type_keys: list[int] = []
    payloads: list[str] = []
    posting_events: list[int] = []
    posting_terms: list[int] = []
    conditional = False
    for batch in group:
        sizes.append(len(batch.events))
        specs.append(batch.spec)
        seen_heads.append(batch.seen_head)
        keys.append(None if batch.idempotency is None else batch.idempotency.key)
        digests.append(None if batch.idempotency is None else batch.idempotency.digest)
        if batch.condition is not None:
            conditional = True
            expected.append(batch.condition.expected)
        else:
            expected.append(None)
        count = 0
        type_keys.extend(batch.type_keys)
        for position, (event, terms) in enumerate(zip(batch.events, batch.terms, strict=True), start=1):
            event_types.append(event.event_type)
            payloads.append(jsonb_text(event.payload, event.payload_json))
            posting_terms.extend(terms)
            posting_events.extend([position] * len(terms))
            count += len(terms)
        posting_counts.append(count)
    return [
        _sql.int_array(sizes),
        _sql.int_array(posting_counts),
        _sql.text_array(specs) if conditional else None,
        _sql.int_array(expected),
        _sql.int_array(seen_heads),
        _prepared.binary_text_array(event_types),
        _prepared.binary_bigint_array(type_keys),
        _prepared.binary_jsonb_array(payloads),
        _prepared.binary_int_array(posting_events),
        _prepared.binary_bigint_array(posting_terms),
        _sql.timestamp_array([batch.occurred_at for batch in group]),
        _sql.text_array(keys) if any(keys) else None,
        _sql.text_array(digests) if any(keys) else None,
    ]


def _conflict(expected: int | None, actual: int | None, facts: list[list[Any]]) -> ConditionalAppendConflict:
    """A conflict with the facts append_batches read: [seq, micros, type, payload] each, one more than the limit
    when there were more."""
    records = [
        EventRecord(seq, _EPOCH + timedelta(microseconds=micros), event_type, payload)
        for seq, micros, event_type, payload in facts[:CONFLICT_FACTS_LIMIT]
    ]
    return ConditionalAppendConflict(expected, actual, records, len(facts) > CONFLICT_FACTS_LIMIT)


def _upper_bound(query: PreparedQuery) -> str:
    """The ``upto`` parameter of a query: its max_sequence_number, or the largest number (no bound)."""
    return str(MAX_SEQUENCE_NUMBER if query.max_sequence_number is None else query.max_sequence_number)


def _sequence_number(record: EventRecord) -> int:
    return record.sequence_number


def _records(result: Any, first: int, skip: int = 0) -> list[EventRecord]:
    """The records of a binary result whose columns from ``first`` are the number, ``skip`` others, the commit
    time, the type and the payload."""
    value = result.get_value
    at_column = first + 1 + skip
    times: dict[bytes, datetime] = {}  # the events of a batch share their commit time
    records = []
    for row in range(result.ntuples):
        raw_time = value(row, at_column)
        occurred_at = times.get(raw_time)
        if occurred_at is None:
            occurred_at = times[raw_time] = _timestamptz(raw_time)
        records.append(
            EventRecord(
                _bigint(value(row, first)),
                occurred_at,
                value(row, at_column + 1).decode(),
                _decode(value(row, at_column + 2)[1:]),  # jsonb: a version byte, then the text
            )
        )
    return records


class _Statements:
    """The SQL of one store with its schema's quoted names filled in, rendered once at open."""

    def __init__(self, schema: str, conn: psycopg.Connection[Any]) -> None:
        def quoted(*names: str) -> str:
            return sql.Identifier(*names).as_string(conn)

        self._names = {
            "{schema}": quoted(schema),
            "{events}": quoted(schema, "events"),
            "{head}": quoted(schema, "head"),
            "{cursors}": quoted(schema, "durable_cursors"),
            "{postings}": quoted(schema, "postings"),
        }
        self.append_batches = _prepared.prepared("append_batches", self._render(_sql.APPEND_BATCHES))
        self.head = _prepared.prepared("head", self._render(_sql.HEAD))
        self.analyze = self._render(_sql.ANALYZE)
        self.events = self._names["{events}"]
        self.query_forward = _prepared.prepared("query_forward", self._render(_sql.QUERY_FORWARD))
        self.query_backward = _prepared.prepared("query_backward", self._render(_sql.QUERY_BACKWARD))
        self.scan = _prepared.prepared("scan", self._render(_sql.SCAN))
        self.query_whole_forward = _prepared.prepared("query_whole_forward", self._render(_sql.QUERY_WHOLE_FORWARD))
        self.query_whole_backward = _prepared.prepared("query_whole_backward", self._render(_sql.QUERY_WHOLE_BACKWARD))
        self.query_all_forward = _prepared.prepared("query_all_forward", self._render(_sql.QUERY_ALL_FORWARD))
        self.query_all_backward = _prepared.prepared("query_all_backward", self._render(_sql.QUERY_ALL_BACKWARD))
        self.scan_all = _prepared.prepared("scan_all", self._render(_sql.SCAN_ALL))
        self.load_cursor = self._render(_sql.LOAD_CURSOR)
        self.save_cursor = self._render(_sql.SAVE_CURSOR)
        self.advance_cursor = self._render(_sql.ADVANCE_CURSOR)
        self.list_cursors = self._render(_sql.LIST_CURSORS)
        self.delete_cursor = self._render(_sql.DELETE_CURSOR)

    def _render(self, template: str) -> str:
        for placeholder, name in self._names.items():
            template = template.replace(placeholder, name)
        return template


def _refused(conn: psycopg.Connection[Any], exc: psycopg.Error) -> bool:
    """Whether the server refused an append for what it carried (so one batch of the group may be the cause).

    Only when the session is intact: then the server answered, and the statement's transaction rolled back.
    """
    if conn.broken or conn.closed:
        return False
    state = exc.sqlstate
    if state is None:
        return True  # refused by the driver before anything was sent
    return state in _RETRYABLE_STATES or state[:2] not in _UNWELL_CLASSES


def _caused_by(error: EventStoreError, cause: BaseException) -> EventStoreError:
    """Set ``cause`` as the ``__cause__`` of ``error``, as ``raise error from cause`` will show it."""
    error.__cause__ = cause
    return error
