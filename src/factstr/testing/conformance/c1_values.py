"""Conformance tests of C1: values (see docs/contract.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ..._model import JSON, EventQuery, NewEvent
from ..._store import EventStore
from .._helpers import Recorder, event


def test_records_carry_what_was_appended(store: EventStore) -> None:
    """C1: a record holds the appended type and payload, unchanged."""
    payload = {"s": "text é ✓", "n": 3, "f": 2.5, "b": True, "z": None, "l": [1, {"x": []}], "o": {}}
    store.append([NewEvent("thing-happened", payload)])
    (record,) = store.query(EventQuery()).event_records
    assert (record.sequence_number, record.event_type, record.payload) == (1, "thing-happened", payload)


def test_scalar_and_array_payloads_round_trip(store: EventStore) -> None:
    """C1: a payload may be any JSON value, not only an object."""
    payloads: list[JSON] = [None, True, 0, -7, 1.5, "plain", [], [1, "a", None], {}]
    store.append([NewEvent("value", payload) for payload in payloads])
    assert [record.payload for record in store.query(EventQuery()).event_records] == payloads


def test_occurred_at_is_utc_and_one_value_per_batch(store: EventStore) -> None:
    """C1: occurred_at is tz-aware UTC, stamped at commit, the same for every record of a batch."""
    before = datetime.now(UTC).replace(microsecond=0)
    store.append([event("a"), event("b")])
    records = store.query(EventQuery()).event_records
    assert records[0].occurred_at.utcoffset() is not None
    assert records[0].occurred_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert records[0].occurred_at == records[1].occurred_at
    assert before <= records[0].occurred_at <= datetime.now(UTC)


def test_occurred_at_is_the_same_from_query_and_stream(store: EventStore) -> None:
    """C1: occurred_at has the same value, to the microsecond, wherever a record comes from."""
    recorder = Recorder()
    with store.stream_all(recorder):
        store.append([event("a")])
        assert recorder.wait_for_number(1)
    assert recorder.batches[0][0].occurred_at == store.query(EventQuery()).event_records[0].occurred_at


def test_append_result_describes_the_committed_range(store: EventStore) -> None:
    """C1: last_sequence_number = first_sequence_number + committed_count - 1."""
    store.append([event("a")])
    result = store.append([event("b"), event("c"), event("d")])
    assert (result.first_sequence_number, result.last_sequence_number, result.committed_count) == (2, 4, 3)


def test_values_are_immutable(store: EventStore) -> None:
    """C1: values are immutable."""
    store.append([event("a")])
    record = store.query(EventQuery()).event_records[0]
    with pytest.raises(AttributeError):
        record.sequence_number = 9  # type: ignore[misc]


__all__ = sorted(name for name in dict(globals()) if name.startswith("test_"))
