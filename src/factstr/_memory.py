"""MemoryStore: the reference store, in one process, indexed so that commands never scan the log.

Events live in parallel columns (type, payload JSON text, batch start, commit time). Posting lists of sequence
numbers per event type and per payload term narrow every query, context check and stream read to candidates;
the reference matcher rechecks each candidate. Posting lists are sorted because numbers only grow, so a
position is found by binary search.
"""

from __future__ import annotations

import heapq
import threading
from array import array
from bisect import bisect_right
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TypeAlias

import msgspec

from ._errors import CONFLICT_FACTS_LIMIT, ConditionalAppendConflict, DurableStreamActive, InvalidInput
from ._matching import Filters, filter_matches, payload_leaves
from ._model import JSON, AppendResult, EventRecord, QueryResult
from ._store import Condition, LocalStore, Scan, StoredCursor, replayed
from ._streams import SAFETY_POLL_SECONDS
from ._validation import DEFAULT_MAX_PAYLOAD_BYTES, Idempotency, PreparedEvent, PreparedQuery

_decode = msgspec.json.decode
_EMPTY = array("q")
# Marks a candidate whose payload was not decoded yet (None is a valid payload).
_NOT_DECODED: JSON = object()
# A posting source: a sorted array of sequence numbers, or ``None`` for "every number" (no usable index).
_Source: TypeAlias = "array[int] | None"


class _MemoryHold:
    def __init__(self, holds: set[str], lock: threading.Lock, name: str) -> None:
        self._holds = holds
        self._lock = lock
        self._name = name
        self._released = False

    def release(self) -> None:
        with self._lock:
            if not self._released:
                self._released = True
                self._holds.discard(self._name)


class MemoryStore(LocalStore):
    """The in-process reference store: fast, thread-safe, gone when the object is.

    Durable cursors live as long as the store object.
    """

    __module__ = "factstr"

    def __init__(
        self,
        *,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        poll_interval: float = SAFETY_POLL_SECONDS,
    ) -> None:
        super().__init__(max_payload_bytes=max_payload_bytes, poll_interval=poll_interval)
        self._lock = threading.RLock()
        self._types: list[str] = []
        self._payloads: list[str] = []
        self._batch_starts = array("q")
        self._occurred: list[datetime] = []
        self._by_type: dict[str, array[int]] = {}
        self._by_term: dict[int, array[int]] = {}
        self._cursors: dict[str, tuple[str, int]] = {}
        # Idempotency keys of appended batches: the digest of their events, their first and last number.
        self._keys: dict[str, tuple[str, int, int]] = {}
        self._holds: set[str] = set()
        self._holds_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<factstr.MemoryStore head={len(self._types)}>"

    # --- writing -----------------------------------------------------------------------------------------

    def _append(
        self,
        events: list[PreparedEvent],
        condition: Condition | None,
        *,
        occurred_at: datetime | None = None,
        idempotency: Idempotency | None = None,
    ) -> AppendResult:
        term_sets = [_terms(event.payload) for event in events]
        with self._lock:
            if idempotency is not None:
                known = self._keys.get(idempotency.key)
                if known is not None:
                    outcome = replayed(idempotency, *known)
                    if isinstance(outcome, InvalidInput):
                        raise outcome
                    return outcome
            if condition is not None:
                actual = self._context_version(condition.filters)
                if actual != condition.expected:
                    raise self._conflict(condition, actual)
            first = len(self._types) + 1
            if occurred_at is None:
                occurred_at = datetime.now(UTC)
            sequence = first
            for event, terms in zip(events, term_sets, strict=True):
                self._types.append(event.event_type)
                self._payloads.append(event.payload_json)
                self._batch_starts.append(first)
                self._occurred.append(occurred_at)
                postings = self._by_type.get(event.event_type)
                if postings is None:
                    postings = self._by_type[event.event_type] = array("q")
                postings.append(sequence)
                for term in terms:
                    postings = self._by_term.get(term)
                    if postings is None:
                        postings = self._by_term[term] = array("q")
                    postings.append(sequence)
                sequence += 1
            if idempotency is not None:
                self._keys[idempotency.key] = (idempotency.digest, first, sequence - 1)
            return AppendResult(first, sequence - 1, len(events))

    def _conflict(self, condition: Condition, actual: int | None) -> ConditionalAppendConflict:
        """The conflict with the context's facts in (expected, actual], read under the lock that found it."""
        facts: list[EventRecord] = []
        for sequence, payload in self._matching(condition.filters, condition.expected or 0, actual or 0, False):
            facts.append(self._record(sequence, payload))
            if len(facts) > CONFLICT_FACTS_LIMIT:
                break
        truncated = len(facts) > CONFLICT_FACTS_LIMIT
        return ConditionalAppendConflict(condition.expected, actual, facts[:CONFLICT_FACTS_LIMIT], truncated)

    # --- reading -----------------------------------------------------------------------------------------

    def _head(self) -> int:
        return len(self._types)

    def _query(self, query: PreparedQuery) -> QueryResult:
        with self._lock:
            head = len(self._types)
            top = query.top(head)
            records = []
            wanted = query.limit
            if query.filters is None:
                # Every event matches: the records are a slice of the columns.
                records = self._slice(query.min_sequence_number, top, wanted, query.backwards)
            elif wanted != 0:
                matching = self._matching(query.filters, query.min_sequence_number, top, query.backwards)
                for sequence, payload in matching:
                    records.append(self._record(sequence, payload))
                    if wanted is not None and len(records) >= wanted:
                        break
            # The highest match in (min, top] is the highest at or below top whenever one was returned.
            if records and query.backwards:
                version: int | None = records[0].sequence_number
            elif records and query.limit is None:
                version = records[-1].sequence_number
            else:
                version = self._context_version(query.filters, top)
        last = records[-1].sequence_number if records else None
        return QueryResult(records, last, version, head or None)

    def _scan(self, after: int, filters: Filters, limit: int) -> Scan:
        with self._lock:
            head = len(self._types)
            if filters is None:
                records = self._slice(after, head, limit, False)
                starts = list(self._batch_starts[after : after + len(records)])
                return Scan(records, starts, after + len(records) if len(records) >= limit else head)
            records = []
            starts = []
            for sequence, payload in self._matching(filters, after, head, False):
                records.append(self._record(sequence, payload))
                starts.append(self._batch_starts[sequence - 1])
                if len(records) >= limit:
                    return Scan(records, starts, sequence)
        return Scan(records, starts, head)

    def _slice(self, after: int, head: int, limit: int | None, backwards: bool) -> list[EventRecord]:
        """The records in (after, head], at most ``limit`` of them, oldest or newest first."""
        count = head - after if limit is None else min(limit, head - after)
        if count <= 0:
            return []
        indexes = range(head - 1, head - 1 - count, -1) if backwards else range(after, after + count)
        occurred, types, payloads = self._occurred, self._types, self._payloads
        return [EventRecord(i + 1, occurred[i], types[i], _decode(payloads[i])) for i in indexes]

    def _record(self, sequence: int, payload: JSON) -> EventRecord:
        index = sequence - 1
        return EventRecord(sequence, self._occurred[index], self._types[index], payload)

    def _context_version(self, filters: Filters, top: int | None = None) -> int | None:
        """The highest matching number at or below ``top`` (default: the head)."""
        for sequence, _ in self._matching(filters, 0, len(self._types) if top is None else top, True):
            return sequence
        return None

    def _matching(self, filters: Filters, after: int, head: int, backwards: bool) -> Iterator[tuple[int, JSON]]:
        """Yield each matching sequence number in (after, head], ascending or descending, with its payload.

        Candidates come from the indexes; the reference matcher decides. The type is checked before the
        payload is decoded, and each payload is decoded once.
        """
        if filters == ():
            return
        types = self._types
        payloads = self._payloads
        for sequence in _merge(self._sources(filters), after, head, backwards):
            index = sequence - 1
            if filters is None:
                yield sequence, _decode(payloads[index])
                continue
            event_type = types[index]
            payload: JSON = _NOT_DECODED
            for flt in filters:
                if flt.types is not None and event_type not in flt.types:
                    continue
                if payload is _NOT_DECODED:
                    payload = _decode(payloads[index])
                if filter_matches(flt, event_type, payload):
                    yield sequence, payload
                    break

    def _sources(self, filters: Filters) -> list[_Source]:
        """Choose, per filter, the smaller of its type postings and its predicate postings."""
        if filters is None:
            return [None]
        sources: list[_Source] = []
        for flt in filters:
            by_type: list[_Source] | None = None
            if flt.types is not None:
                by_type = [self._by_type.get(event_type, _EMPTY) for event_type in flt.types]
            by_predicate: list[_Source] | None = None
            if flt.predicates is not None:
                by_predicate = []
                for predicate in flt.predicates:
                    terms = _terms(predicate)
                    if not terms:
                        by_predicate = None  # e.g. {} or []: no term narrows it down
                        break
                    by_predicate.append(min((self._by_term.get(t, _EMPTY) for t in terms), key=len))
            chosen = _smaller(by_type, by_predicate)
            if chosen is None:
                return [None]
            sources.extend(chosen)
        return sources

    # --- durable cursors and holds -----------------------------------------------------------------------

    def _load_cursor(self, name: str) -> StoredCursor | None:
        with self._lock:
            stored = self._cursors.get(name)
        return None if stored is None else StoredCursor(name, *stored)

    def _save_cursor(self, name: str, filters_json: str, cursor: int) -> None:
        with self._lock:
            self._cursors[name] = (filters_json, cursor)

    def _advance_cursor(self, name: str, cursor: int) -> None:
        with self._lock:
            stored = self._cursors.get(name)
            if stored is not None and cursor > stored[1]:
                self._cursors[name] = (stored[0], cursor)

    def _list_cursors(self) -> list[StoredCursor]:
        with self._lock:
            return [StoredCursor(name, *stored) for name, stored in self._cursors.items()]

    def _delete_cursor(self, name: str) -> None:
        with self._lock:
            self._cursors.pop(name, None)

    def _acquire_hold(self, name: str) -> _MemoryHold:
        with self._holds_lock:
            if name in self._holds:
                raise DurableStreamActive(f"durable stream {name!r} is already active")
            self._holds.add(name)
        return _MemoryHold(self._holds, self._holds_lock, name)

    def _is_held(self, name: str) -> bool:
        return name in self._holds

    def _close_backend(self) -> None:
        pass


def _smaller(first: list[_Source] | None, second: list[_Source] | None) -> list[_Source] | None:
    if first is None:
        return second
    if second is None:
        return first
    return first if _size(first) <= _size(second) else second


def _size(sources: list[_Source]) -> int:
    return sum(len(source) for source in sources if source is not None)


def _merge(sources: list[_Source], after: int, head: int, backwards: bool) -> Iterator[int]:
    """Yield each number in (after, head] that is in any source once, in order."""
    if any(source is None for source in sources):
        yield from (range(head, after, -1) if backwards else range(after + 1, head + 1))
        return
    ranges = []
    for source in sources:
        assert source is not None
        low = bisect_right(source, after)
        high = bisect_right(source, head, low)
        if low < high:
            ranges.append((source, low, high))
    if len(ranges) == 1:
        yield from _walk(*ranges[0], backwards)
        return
    iterators = [_walk(source, low, high, backwards) for source, low, high in ranges]
    previous = -1
    for sequence in heapq.merge(*iterators, reverse=backwards):
        if sequence != previous:
            previous = sequence
            yield sequence


def _walk(source: array[int], low: int, high: int, backwards: bool) -> Iterator[int]:
    indexes = range(high - 1, low - 1, -1) if backwards else range(low, high)
    for index in indexes:
        yield source[index]


def _terms(value: JSON) -> set[int]:
    # In one process Python's own hash is stable and much cheaper than the cross-process term hash; a
    # collision only adds a candidate, which the matcher then rejects.
    return {hash(leaf) for leaf in payload_leaves(value)}
