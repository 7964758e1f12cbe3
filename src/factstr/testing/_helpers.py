"""Small helpers shared by the conformance tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .._model import JSON, EventFilter, EventQuery, EventRecord, NewEvent
from .._store import EventStore

WAIT_SECONDS = 15.0


def event(event_type: str, payload: JSON = None) -> NewEvent:
    """Build a NewEvent (the payload defaults to an empty object)."""
    return NewEvent(event_type, {} if payload is None else payload)


def query(
    *,
    types: list[str] | None = None,
    predicates: list[JSON] | None = None,
    min_sequence_number: int | None = None,
    limit: int | None = None,
    backwards: bool = False,
    max_sequence_number: int | None = None,
) -> EventQuery:
    """Build a query of one filter (or of every event when neither part is given)."""
    filters = None
    if types is not None or predicates is not None:
        filters = [EventFilter(event_types=types, payload_predicates=predicates)]
    return EventQuery(
        filters=filters,
        min_sequence_number=min_sequence_number,
        limit=limit,
        backwards=backwards,
        max_sequence_number=max_sequence_number,
    )


def numbers(records: list[EventRecord]) -> list[int]:
    """The sequence numbers of records."""
    return [record.sequence_number for record in records]


class Recorder:
    """A stream handler that records every batch and lets a test wait for them."""

    def __init__(self, fail_when: Callable[[list[EventRecord]], bool] | None = None) -> None:
        self.batches: list[list[EventRecord]] = []
        self.calls = 0
        self._fail_when = fail_when
        self._condition = threading.Condition()

    def __call__(self, batch: list[EventRecord]) -> None:
        with self._condition:
            self.calls += 1
            if self._fail_when is not None and self._fail_when(batch):
                self._condition.notify_all()
                raise RuntimeError(f"handler refused batch ending at {batch[-1].sequence_number}")
            self.batches.append(batch)
            self._condition.notify_all()

    @property
    def numbers(self) -> list[int]:
        """Every delivered sequence number, in delivery order."""
        with self._condition:
            return [record.sequence_number for batch in self.batches for record in batch]

    @property
    def batch_numbers(self) -> list[list[int]]:
        """The sequence numbers of each delivered batch."""
        with self._condition:
            return [[record.sequence_number for record in batch] for batch in self.batches]

    def wait_for_calls(self, calls: int, timeout: float = WAIT_SECONDS) -> bool:
        """Wait until the handler was called at least ``calls`` times."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self.calls < calls:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return True

    def wait_for_number(self, sequence_number: int, timeout: float = WAIT_SECONDS) -> bool:
        """Wait until a batch containing ``sequence_number`` (or a later one) was delivered."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while not self.batches or self.batches[-1][-1].sequence_number < sequence_number:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return True


def seed(store: EventStore) -> None:
    """Append five events in three batches: [1, 2], [3], [4, 5]."""
    store.append([event("opened", {"account": "a", "amount": 1}), event("opened", {"account": "b"})])
    store.append([event("deposited", {"account": "a", "amount": 5})])
    store.append([event("deposited", {"account": "b", "amount": 7}), event("closed", {"account": "a"})])


def matching_numbers(store: EventStore, q: EventQuery) -> list[int]:
    """The sequence numbers of what ``q`` returns."""
    return numbers(store.query(q).event_records)
