"""Conformance tests of C7: errors and bad input (see docs/contract.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ..._errors import EventStoreError, InvalidInput
from ..._model import DurableStream, EventFilter, EventQuery, NewEvent
from ..._store import EventStore
from .._helpers import Recorder, event


class _Unserialisable:
    pass


def _cycle() -> dict[str, object]:
    value: dict[str, object] = {}
    value["self"] = value
    return value


BAD_PAYLOADS: list[tuple[str, object]] = [
    ("nan", {"v": float("nan")}),
    ("infinity", {"v": float("inf")}),
    ("negative-infinity", [float("-inf")]),
    ("bytes", {"v": b"raw"}),
    ("set", {"v": {1, 2}}),
    ("tuple", {"v": (1, 2)}),
    ("object", {"v": _Unserialisable()}),
    ("int-key", {1: "x"}),
    ("cycle", _cycle()),
    ("nul-in-value", {"v": "a\x00b"}),
    ("nul-in-key", {"a\x00": 1}),
    ("int-too-large", {"v": 2**64}),
    ("datetime", {"v": datetime.now(UTC)}),
]


@pytest.mark.parametrize(("label", "payload"), BAD_PAYLOADS, ids=[label for label, _ in BAD_PAYLOADS])
def test_bad_payload_raises_invalid_input_and_commits_nothing(store: EventStore, label: str, payload: object) -> None:
    """C7: a payload that is not JSON raises InvalidInput; nothing is committed."""
    with pytest.raises(InvalidInput):
        store.append([event("ok"), NewEvent("bad", payload)])
    with pytest.raises(InvalidInput):
        store.append_if([NewEvent("bad", payload)], EventQuery(), None)
    assert store.head() is None


BAD_EVENT_TYPES: list[tuple[str, object]] = [
    ("empty", ""),
    ("none", None),
    ("int", 7),
    ("bytes", b"type"),
    ("nul", "a\x00"),
]


@pytest.mark.parametrize(("label", "event_type"), BAD_EVENT_TYPES, ids=[label for label, _ in BAD_EVENT_TYPES])
def test_bad_event_type_raises_invalid_input(store: EventStore, label: str, event_type: object) -> None:
    """C7: a non-string, empty or NUL-carrying event type raises InvalidInput."""
    with pytest.raises(InvalidInput):
        store.append([NewEvent(event_type, {})])  # type: ignore[arg-type]
    assert store.head() is None


def test_events_of_the_wrong_type_raise_invalid_input(store: EventStore) -> None:
    """C7: events must be a list of NewEvent."""
    for bad in ({"event_type": "a", "payload": {}}, "a", 3):
        with pytest.raises(InvalidInput):
            store.append([bad])  # type: ignore[list-item]
    for bad_list in ("ab", {"a": 1}, None, 3):
        with pytest.raises(InvalidInput):
            store.append(bad_list)  # type: ignore[arg-type]
    assert store.head() is None


def test_payload_above_the_size_limit_raises_invalid_input(store: EventStore) -> None:
    """C7: a payload above the configured limit (default 1 MiB) raises InvalidInput."""
    with pytest.raises(InvalidInput):
        store.append([event("big", {"blob": "x" * (1024 * 1024)})])
    assert store.head() is None
    store.append([event("fits", {"blob": "x" * (1024 * 1024 - 20)})])
    assert store.head() == 1


BAD_QUERIES: list[tuple[str, object]] = [
    ("dict-for-query", {"filters": None}),
    ("dict-for-filter", EventQuery(filters=[{"event_types": ["a"]}])),  # type: ignore[list-item]
    ("filters-not-a-list", EventQuery(filters=EventFilter(event_types=["a"]))),  # type: ignore[arg-type]
    ("event-types-a-string", EventQuery(filters=[EventFilter(event_types="a")])),
    ("event-type-not-str", EventQuery(filters=[EventFilter(event_types=[1])])),  # type: ignore[list-item]
    ("predicates-not-a-list", EventQuery(filters=[EventFilter(payload_predicates={"a": 1})])),  # type: ignore[arg-type]
    ("predicate-nan", EventQuery(filters=[EventFilter(payload_predicates=[{"a": float("nan")}])])),
    ("predicate-set", EventQuery(filters=[EventFilter(payload_predicates=[{1, 2}])])),
    ("predicate-nul", EventQuery(filters=[EventFilter(payload_predicates=[{"a": "\x00"}])])),
    ("min-negative", EventQuery(min_sequence_number=-1)),
    ("min-bool", EventQuery(min_sequence_number=True)),
    ("min-float", EventQuery(min_sequence_number=1.0)),  # type: ignore[arg-type]
    ("min-str", EventQuery(min_sequence_number="1")),  # type: ignore[arg-type]
    ("limit-negative", EventQuery(limit=-1)),
    ("limit-bool", EventQuery(limit=False)),
    ("limit-float", EventQuery(limit=2.5)),  # type: ignore[arg-type]
    ("backwards-not-bool", EventQuery(backwards=1)),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("label", "bad_query"), BAD_QUERIES, ids=[label for label, _ in BAD_QUERIES])
def test_bad_query_raises_invalid_input(store: EventStore, label: str, bad_query: object) -> None:
    """C7: malformed queries raise InvalidInput, in query, append_if and streams alike."""
    with pytest.raises(InvalidInput):
        store.query(bad_query)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        store.append_if([event("a")], bad_query, None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        store.stream_to(bad_query, Recorder())  # type: ignore[arg-type]
    assert store.head() is None


@pytest.mark.parametrize("expected", [-1, True, False, 1.0, "1", [1]])
def test_bad_expected_version_raises_invalid_input(store: EventStore, expected: object) -> None:
    """C7: expected_context_version must be None or a non-negative int."""
    with pytest.raises(InvalidInput):
        store.append_if([event("a")], EventQuery(), expected)  # type: ignore[arg-type]
    assert store.head() is None


@pytest.mark.parametrize("name", ["", "x" * 201, None, 7, "nul\x00name"])
def test_bad_durable_name_raises_invalid_input(store: EventStore, name: object) -> None:
    """C7: a durable name must be a non-empty str of at most 200 characters."""
    with pytest.raises(InvalidInput):
        store.stream_all_durable(name, Recorder())  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        store.durable_stream(name)  # type: ignore[arg-type]


def test_longest_durable_name_and_hostile_names_work(store: EventStore) -> None:
    """C7: names up to 200 characters, with quotes and SQL, are plain data."""
    for name in ("x" * 200, "'); drop table cursors; --", 'quote"s and \\ and ✓'):
        with store.stream_all_durable(name, Recorder()):
            pass
        info = store.durable_stream(DurableStream(name))
        assert info is not None and info.name == name


@pytest.mark.parametrize("start", [-1, True, 1.5, "middle", None])
def test_bad_start_raises_invalid_input(store: EventStore, start: object) -> None:
    """C7: start must be "beginning", "end" or a non-negative int."""
    with pytest.raises(InvalidInput):
        store.stream_all_durable("s", Recorder(), start=start)  # type: ignore[arg-type]
    assert store.durable_stream("s") is None


@pytest.mark.parametrize("position", [-1, True, 2.0, None])
def test_bad_reset_position_raises_invalid_input(store: EventStore, position: object) -> None:
    """C7: a cursor position must be a non-negative int."""
    with store.stream_all_durable("p", Recorder()):
        pass
    with pytest.raises(InvalidInput):
        store.reset_durable_stream("p", position)  # type: ignore[arg-type]


def test_every_error_derives_from_event_store_error(store: EventStore) -> None:
    """C7: all errors derive from EventStoreError and carry a message."""
    with pytest.raises(EventStoreError, match="event"):
        store.append([])
    with pytest.raises(EventStoreError, match=r"\S"):
        store.query(EventQuery(limit=-1))


__all__ = sorted(name for name in dict(globals()) if name.startswith("test_"))
