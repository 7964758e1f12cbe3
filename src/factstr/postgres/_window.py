"""The newest committed batches as their notifications told them, so that streams read them without a round trip.

Every append notifies its schema's channel at commit with the new head and, when its batches are small, the
batches themselves (see ``append_batches`` in :mod:`._functions`). PostgreSQL delivers a committed transaction's
notification to every session listening at that moment, in commit order. So while this store's LISTEN session
lives, the notifications it receives are every commit of the log, in order, and a window of contiguous batches
built from them is the log itself over its range: a stream read after a position inside the window is answered
from memory, matched by the reference matcher, with the window's end as how far it read. Commits after the end
arrive as further notifications, which also wake the streams.

The window is emptied whenever that could stop being true: when the LISTEN session ends or starts (commits in
between reach nobody), when a notification carries only a head (its batches were too large), and when a batch
does not follow the window's end (the notification of the commit in between has not arrived yet). An appender
also adds its own committed batches (the same message, returned by the append) as soon as they follow the end,
which saves its own streams a read; the notification of the same batch is then ignored.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import msgspec

from .._matching import Filters, query_matches
from .._model import EventRecord
from .._store import Scan

CAPACITY = 8192
"""The most events the window keeps; older batches are dropped first (their readers read the table)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_Batches = list[tuple[int, list[tuple[str, object]]]]
_decode_batches = msgspec.json.Decoder(_Batches).decode


class Window:
    """The newest contiguous committed batches; empty and unused while there is no live LISTEN session."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._live = False
        self._records: list[EventRecord] = []
        self._starts: list[int] = []  # the first number of each record's batch
        self._end = 0  # the number of the last record (meaningful while records are held)

    def open(self) -> None:
        """A LISTEN session started: from now on every commit is notified (the ones before are not known)."""
        with self._lock:
            self._live = True
            self._clear()

    def close(self) -> None:
        """The LISTEN session ended or was used for something else: commits may go unnoticed."""
        with self._lock:
            self._live = False
            self._clear()

    def add(self, message: str) -> None:
        """Take in the message of a commit: ``head`` alone, or ``head first batches`` (see the module doc)."""
        head_text, _, rest = message.partition(" ")
        first_text, _, body = rest.partition(" ")
        with self._lock:
            if not self._live:
                return
            held = bool(self._records)
            if not body:
                if not held or int(head_text) > self._end:
                    self._clear()  # commits the window cannot hold: a gap from here on
                return
            first = int(first_text)
            if held and first <= self._end:
                return  # already held (an appender added its own batch before its notification came)
            if held and first != self._end + 1:
                self._clear()  # the notification of a commit in between has not come yet
            records = self._records
            starts = self._starts
            number = first
            for micros, events in _decode_batches(body):
                occurred_at = _EPOCH + timedelta(microseconds=micros)
                for event_type, payload in events:
                    records.append(EventRecord(number, occurred_at, event_type, payload))
                    starts.append(first)
                    number += 1
                first = number
            self._end = number - 1
            if len(records) > self._capacity:
                self._drop_oldest()

    def read(self, after: int, filters: Filters, limit: int) -> Scan | None:
        """The matching records after ``after`` from the window, or None when it does not hold what follows it."""
        with self._lock:
            records = self._records
            if not self._live or not records:
                return None
            start = records[0].sequence_number
            if not start - 1 <= after <= self._end:
                return None
            found: list[EventRecord] = []
            batch_starts: list[int] = []
            for index in range(after + 1 - start, len(records)):
                record = records[index]
                if filters is None or query_matches(filters, record.event_type, record.payload):
                    found.append(record)
                    batch_starts.append(self._starts[index])
                    if len(found) >= limit:
                        return Scan(found, batch_starts, record.sequence_number)
            return Scan(found, batch_starts, self._end)

    def _clear(self) -> None:
        self._records = []
        self._starts = []
        self._end = 0

    def _drop_oldest(self) -> None:
        # Whole batches only, so that a read never starts inside a batch it cannot see the beginning of.
        excess = len(self._records) - self._capacity
        cut = excess
        while cut < len(self._starts) and self._starts[cut] == self._starts[cut - 1]:
            cut += 1
        del self._records[:cut], self._starts[:cut]
