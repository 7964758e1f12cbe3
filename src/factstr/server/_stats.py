"""What the web inspector reads beyond the store contract: facts per type, the append rate, pages of the log.

Counting facts per type with a query would read the whole log on every request. Instead one live store
stream per app (:class:`LogStatistics`) starts at the beginning of the log the first time someone asks, and
from then on keeps the counts current from every committed batch: a request costs a copy of the counts,
whatever the size of the log. The first request pays nothing either: it answers at once with what was
counted so far (``counted_through`` says how far), while the stream catches up in the background, at the
stream runtime's own pace and memory bound. The same batches carry their commit time, which fills the
append-rate buckets of the last minutes (replayed history included, so the chart is right from the start).

A page of the log (``/log``) is one bounded, index-backed read of consecutive sequence numbers: the log is
gapless, so the numbers a page covers are known before it is read, and each record comes with the first
number of its batch, which no query result carries.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import __version__
from .._model import EventQuery, EventRecord
from .._store import EventStore
from .._streams import EventStream
from ._codec import format_occurred_at, records_to_wire
from ._problems import Problem
from ._routes import endpoint

if TYPE_CHECKING:
    from ._app import ServerState

# The append-rate chart: how long a bucket is and how many the window holds (ten minutes).
RATE_BUCKET_SECONDS = 10
RATE_BUCKETS = 60
# Distinct event types counted by name; facts of further types are counted together. A log may hold any
# number of types, but the counts live in memory and every /stats answer carries them.
MAX_COUNTED_TYPES = 10_000
DEFAULT_PAGE = 50
MAX_PAGE = 500

_STORE_KINDS = {"MemoryStore": "memory", "SQLiteStore": "sqlite", "PostgresStore": "postgresql", "HTTPStore": "http"}


def store_kind(store: EventStore) -> str:
    """Return the kind of store, as its URL scheme says it (``sqlite``, ``postgresql``, ...)."""
    name = type(store).__name__
    return _STORE_KINDS.get(name, name)


class TypeCount(msgspec.Struct):
    event_type: str
    count: int


class RateBucket(msgspec.Struct):
    start: str
    facts: int
    batches: int


class AppendRate(msgspec.Struct):
    bucket_seconds: int
    buckets: list[RateBucket]


class Statistics(msgspec.Struct):
    head: int | None
    store_kind: str
    version: str
    counted_through: int
    event_types: list[TypeCount]
    other_types_count: int
    append_rate: AppendRate


class LogRecord(msgspec.Struct):
    sequence_number: int
    occurred_at: str
    event_type: str
    payload: Any
    batch_first_sequence_number: int | None


class LogPage(msgspec.Struct):
    head: int | None
    records: list[LogRecord]


class LogStatistics:
    """Counts per type and recent append rate, kept current by one live stream over the whole log.

    :meth:`ensure_started` registers the stream (idempotent; call it off the event loop, registering may
    wait for the database); the stream's worker thread calls :meth:`count` once per committed batch, and
    :meth:`snapshot` reads under the same lock, so counts and ``counted_through`` always agree.
    """

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._stream: EventStream | None = None
        self._closed = False
        self._counts: dict[str, int] = {}
        self._other = 0
        self._through = 0
        # Bucket index (commit time // RATE_BUCKET_SECONDS) -> [facts, batches], only for recent buckets.
        self._buckets: dict[int, list[int]] = {}

    def ensure_started(self) -> None:
        """Start counting from the beginning of the log, or resume after a stream that stopped."""
        with self._start_lock:
            if self._closed or (self._stream is not None and self._stream.running):
                return
            with self._lock:
                start = self._through
            self._stream = self._store.stream_to(EventQuery(), self.count, start=start)

    def count(self, batch: list[EventRecord]) -> None:
        """Add one committed batch (the stream's handler)."""
        bucket = math.floor(batch[0].occurred_at.timestamp() / RATE_BUCKET_SECONDS)
        newest = math.floor(time.time() / RATE_BUCKET_SECONDS)
        with self._lock:
            counts = self._counts
            for record in batch:
                name = record.event_type
                if name in counts:
                    counts[name] += 1
                elif len(counts) < MAX_COUNTED_TYPES:
                    counts[name] = 1
                else:
                    self._other += 1
            self._through = batch[-1].sequence_number
            # A few buckets ahead are kept: the database's clock may run slightly ahead of this one.
            if newest - RATE_BUCKETS < bucket <= newest + RATE_BUCKETS:
                facts_batches = self._buckets.setdefault(bucket, [0, 0])
                facts_batches[0] += len(batch)
                facts_batches[1] += 1
                self._prune(newest)

    def _prune(self, newest: int) -> None:
        for old in [b for b in self._buckets if b <= newest - RATE_BUCKETS]:
            del self._buckets[old]

    def snapshot(self) -> Statistics:
        """Return the counts so far and the append rate over the window ending now (``head`` left None)."""
        newest = math.floor(time.time() / RATE_BUCKET_SECONDS)
        with self._lock:
            self._prune(newest)
            counts = sorted(self._counts.items(), key=lambda item: (-item[1], item[0]))
            other = self._other
            through = self._through
            recent = {bucket: tuple(values) for bucket, values in self._buckets.items()}
        buckets = []
        for bucket in range(newest - RATE_BUCKETS + 1, newest + 1):
            facts, batches = recent.get(bucket, (0, 0))
            start = format_occurred_at(datetime.fromtimestamp(bucket * RATE_BUCKET_SECONDS, UTC))
            buckets.append(RateBucket(start, facts, batches))
        return Statistics(
            head=None,
            store_kind=store_kind(self._store),
            version=__version__,
            counted_through=through,
            event_types=[TypeCount(name, number) for name, number in counts],
            other_types_count=other,
            append_rate=AppendRate(RATE_BUCKET_SECONDS, buckets),
        )

    def close(self) -> None:
        """Stop counting (the app is shutting down); idempotent."""
        with self._start_lock:
            self._closed = True
            stream, self._stream = self._stream, None
        if stream is not None:
            stream.unsubscribe()


# --- routes -----------------------------------------------------------------------------------------------


def _state(request: Request) -> ServerState:
    # The namespace gate puts the state of the request's namespace into the scope.
    state: ServerState = request.scope.get("factstr.state") or request.app.state.factstr
    return state


def statistics_of(request: Request) -> LogStatistics:
    """Return the :class:`LogStatistics` of the request's namespace (made with its state)."""
    return _state(request).statistics


def _json(value: msgspec.Struct) -> Response:
    return Response(msgspec.json.encode(value), media_type="application/json")


def _count_parameter(request: Request, name: str) -> int | None:
    text = request.query_params.get(name)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()):
        raise Problem(422, "invalid_input", f"{name} must be a non-negative integer, got {text!r}")
    return int(text)


def read_page(store: EventStore, *, before: int | None, after: int | None, limit: int) -> LogPage:
    """Return up to ``limit`` consecutive facts, newest first: the newest ones, those below ``before``, or
    those above ``after``; each with the first sequence number of its batch."""
    head = store.head() or 0
    if after is not None:
        low, count = after, limit
    else:
        top = head if before is None else min(before - 1, head)
        low = max(top - limit, 0)
        count = max(top - low, 0)
    if count == 0 or low >= head:
        return LogPage(head or None, [])
    try:
        # One index-backed read of the numbers low+1 .. low+count; the scan is the only reader that also
        # says where each record's batch starts (the stream runtime reads batches with it).
        scan = store._scan(low, None, count)
        records = scan.records
        starts: list[int | None] = list(scan.batch_starts)
    except NotImplementedError:
        # A store that forwards the contract to another server (HTTPStore) has no scan: no batch numbers.
        records = store.query(EventQuery(min_sequence_number=low, limit=count)).event_records
        starts = [None] * len(records)
    page = [
        LogRecord(wire.sequence_number, wire.occurred_at, wire.event_type, wire.payload, start)
        for wire, start in zip(records_to_wire(records), starts, strict=True)
    ]
    page.reverse()
    last = page[0].sequence_number if page else 0
    return LogPage(max(head, last) or None, page)


@endpoint
async def log_page(request: Request) -> Response:
    before = _count_parameter(request, "before")
    after = _count_parameter(request, "after")
    limit = _count_parameter(request, "limit")
    if before is not None and after is not None:
        raise Problem(422, "invalid_input", "give before or after, not both")
    if limit is None:
        limit = DEFAULT_PAGE
    if not 1 <= limit <= MAX_PAGE:
        raise Problem(422, "invalid_input", f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    store = _state(request).store
    page = await run_in_threadpool(read_page, store, before=before, after=after, limit=limit)
    return _json(page)


@endpoint
async def statistics(request: Request) -> Response:
    store = _state(request).store
    counter = statistics_of(request)

    def read() -> Statistics:
        counter.ensure_started()
        # Counts first, then the head: a fact is counted only once committed, so counted_through <= head.
        snapshot = counter.snapshot()
        return msgspec.structs.replace(snapshot, head=store.head())

    return _json(await run_in_threadpool(read))


STATS_ROUTES = [
    Route("/stats", statistics, methods=["GET"]),
    Route("/log", log_page, methods=["GET"]),
]
