"""Conformance tests of C7: errors and bad input (see docs/contract.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from ..._errors import ConditionalAppendConflict, EventStoreError, InvalidInput
from ..._model import JSON, DurableStream, EventFilter, EventQuery, NewEvent
from ..._store import EventStore
from ..._validation import (
    MAX_EVENT_TYPES_PER_FILTER,
    MAX_FILTERS,
    MAX_PREDICATE_BYTES,
    MAX_PREDICATE_DEPTH,
    MAX_PREDICATES_PER_FILTER,
    MAX_PREDICATES_PER_QUERY,
)
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
    ("lone-surrogate-in-value", {"v": "a\ud800"}),
    ("lone-surrogate-in-key", {"\udc00": 1}),
    ("lone-surrogate-nested", {"a": [{"b": "x\udfff"}]}),
    ("surrogate-pair-as-two-code-points", {"v": "\ud83d\ude00"}),
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
    ("lone-surrogate", "\ud800"),
    ("surrogate-pair-as-two-code-points", "a\ud83d\ude00"),
    ("newline", "a\n"),
    ("tab", "a\tb"),
    ("escape", "\x1b[31m"),
    ("delete", "a\x7f"),
    ("c1-control", "a\x85"),
    ("257-characters", "x" * 257),
]


@pytest.mark.parametrize(("label", "event_type"), BAD_EVENT_TYPES, ids=[label for label, _ in BAD_EVENT_TYPES])
def test_bad_event_type_raises_invalid_input(store: EventStore, label: str, event_type: object) -> None:
    """C7: an event type is a str of 1 to 256 Unicode scalar values, none a control character (category Cc)."""
    with pytest.raises(InvalidInput):
        store.append([NewEvent(event_type, {})])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        store.append_if([NewEvent(event_type, {})], EventQuery(), None)  # type: ignore[arg-type]
    if isinstance(event_type, str) and event_type:
        # The same rule for the event types of a filter: such a type can never be in the log.
        with pytest.raises(InvalidInput):
            store.query(EventQuery(filters=[EventFilter(event_types=["ok", event_type])]))
    assert store.head() is None


LONGEST_EVENT_TYPES = [
    ("ascii", "x" * 256),
    ("two-byte", "é" * 256),
    ("three-byte", "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(256))),
    ("four-byte", "".join(chr(0x1F300 + (i * 37) % 700) for i in range(256))),
]


@pytest.mark.parametrize(("label", "event_type"), LONGEST_EVENT_TYPES, ids=[label for label, _ in LONGEST_EVENT_TYPES])
def test_event_types_of_256_characters_of_any_width_work(store: EventStore, label: str, event_type: str) -> None:
    """C7: every store keeps and finds event types up to the limit, whatever the characters' encoded width."""
    store.append([NewEvent(event_type, {"k": 1}), event("other")])
    result = store.query(EventQuery(filters=[EventFilter(event_types=[event_type], payload_predicates=[{"k": 1}])]))
    assert [(r.sequence_number, r.event_type) for r in result.event_records] == [(1, event_type)]
    assert store.append_if([event("next")], EventQuery(filters=[EventFilter(event_types=[event_type])]), 1)


def test_payload_strings_may_hold_control_characters_but_nul(store: EventStore) -> None:
    """C7: payload keys and strings keep every Unicode scalar value except NUL, control characters included."""
    payload = {"line\nbreak": "tab\there\r\n\x01\x1b\x7f\x85\x9f", "astral": "\U0001f600 \U0010ffff"}
    store.append([NewEvent("text", payload)])
    (record,) = store.query(EventQuery()).event_records
    assert record.payload == payload
    found = store.query(EventQuery(filters=[EventFilter(payload_predicates=[{"line\nbreak": payload["line\nbreak"]}])]))
    assert [r.sequence_number for r in found.event_records] == [1]


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
    ("predicate-lone-surrogate-value", EventQuery(filters=[EventFilter(payload_predicates=[{"a": "\ud800"}])])),
    ("predicate-lone-surrogate-key", EventQuery(filters=[EventFilter(payload_predicates=[{"\udbff": 1}])])),
    ("predicate-lone-surrogate-scalar", EventQuery(filters=[EventFilter(payload_predicates=["\udfff"])])),
    ("type-filter-lone-surrogate", EventQuery(filters=[EventFilter(event_types=["\ud800"])])),
    ("type-filter-empty", EventQuery(filters=[EventFilter(event_types=[""])])),
    ("min-beyond-int64", EventQuery(min_sequence_number=2**63)),
    ("limit-beyond-int64", EventQuery(limit=2**63)),
    ("limit-thousands-of-digits", EventQuery(limit=10**5000)),
    ("min-hugely-negative", EventQuery(min_sequence_number=-(10**5000))),
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


def _show(value: object) -> str:
    """A test id for a parameter (str() refuses ints of more than 4300 digits)."""
    if type(value) is int and abs(value) > 2**64:
        return f"{'-' if value < 0 else ''}int-of-{len(str(abs(value) // 10**4000)) + 4000}-digits"
    text = repr(value)
    return text if len(text) <= 30 else text[:27] + "..."


@pytest.mark.parametrize("expected", [-1, True, False, 1.0, "1", [1], 2**63, 10**5000, -(10**5000)], ids=_show)
def test_bad_expected_version_raises_invalid_input(store: EventStore, expected: object) -> None:
    """C7: expected_context_version must be None or an int from 0 to 2**63 - 1."""
    with pytest.raises(InvalidInput):
        store.append_if([event("a")], EventQuery(), expected)  # type: ignore[arg-type]
    assert store.head() is None


BAD_DURABLE_NAMES = [
    "",
    "x" * 201,
    "\U0001d11e" * 201,
    None,
    7,
    "nul\x00name",
    "\ud800",
    "trailing-newline\n",
    "inner\nnewline",
    "tab\tname",
    "bell\x07",
    "c1\x9f",
]


@pytest.mark.parametrize("name", BAD_DURABLE_NAMES, ids=_show)
def test_bad_durable_name_raises_invalid_input(store: EventStore, name: object) -> None:
    """C7: a durable name is a str of 1 to 200 Unicode scalar values, none a control character (category Cc)."""
    with pytest.raises(InvalidInput):
        store.stream_all_durable(name, Recorder())  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        store.durable_stream(name)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        store.delete_durable_stream(name)  # type: ignore[arg-type]
    assert store.durable_streams() == []


def test_longest_durable_name_and_hostile_names_work(store: EventStore) -> None:
    """C7: names up to 200 characters of any width, with quotes and SQL, are plain data."""
    for name in ("x" * 200, "\U0001d11e" * 200, "'); drop table cursors; --", 'quote"s and \\ and ✓'):
        with store.stream_all_durable(name, Recorder()):
            pass
        info = store.durable_stream(DurableStream(name))
        assert info is not None and info.name == name


@pytest.mark.parametrize(
    "start", [-1, True, 1.5, "middle", None, 2**63, 10**5000, -(10**5000), "x" * 10_000], ids=_show
)
def test_bad_start_raises_invalid_input(store: EventStore, start: object) -> None:
    """C7: start must be "beginning", "end" or an int from 0 to 2**63 - 1."""
    with pytest.raises(InvalidInput):
        store.stream_all_durable("s", Recorder(), start=start)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        store.stream_all(Recorder(), start=start)  # type: ignore[arg-type]
    assert store.durable_stream("s") is None


@pytest.mark.parametrize("position", [-1, True, 2.0, None, 2**63, 10**5000], ids=_show)
def test_bad_reset_position_raises_invalid_input(store: EventStore, position: object) -> None:
    """C7: a cursor position must be an int from 0 to 2**63 - 1."""
    with store.stream_all_durable("p", Recorder()):
        pass
    with pytest.raises(InvalidInput):
        store.reset_durable_stream("p", position)  # type: ignore[arg-type]


def test_the_largest_sequence_number_is_accepted_everywhere(store: EventStore) -> None:
    """C7: 2**63 - 1, the largest sequence number, is a valid min_sequence_number, limit, start, position and
    expected version on every store."""
    largest = 2**63 - 1
    store.append([event("a"), event("b")])
    assert store.query(EventQuery(min_sequence_number=largest)).event_records == []
    assert len(store.query(EventQuery(limit=largest)).event_records) == 2
    assert len(store.query(EventQuery(limit=largest, backwards=True)).event_records) == 2
    with pytest.raises(ConditionalAppendConflict) as raised:
        store.append_if([event("c")], EventQuery(), largest)
    assert (raised.value.expected, raised.value.actual) == (largest, 2)
    with store.stream_all(Recorder(), start=largest):
        pass
    with store.stream_all_durable("far", Recorder(), start=largest):
        pass
    store.reset_durable_stream("far", largest)
    info = store.durable_stream("far")
    assert info is not None and info.cursor == largest and info.lag == 0
    assert store.head() == 2


def _nested(depth: int) -> JSON:
    """A predicate of ``depth`` nested objects around one scalar."""
    value: JSON = 1
    for _ in range(depth):
        value = {"n": value}
    return value


def _sized(size: int, index: int) -> dict[str, JSON]:
    """A predicate of exactly ``size`` bytes of compact JSON, distinct per index, that no payload holds."""
    head = {"absent": index, "pad": ""}
    head["pad"] = "p" * (size - len(msgspec.json.encode(head)))
    return head


def _largest_query() -> EventQuery:
    """A query at every limit at once: 32 filters; 128 types in a filter; 64 predicates in a filter and 256 in
    all; 1,024 type-predicate pairs; predicates 32 levels deep and of 1,024 bytes."""
    filters = [
        # 2 x 128 types x 4 predicates: 1,024 pairs. The first predicate of each matches the seeded events.
        EventFilter(
            event_types=["hit", *(f"t{f}-{t}" for t in range(127))],
            payload_predicates=[{"k": f}, _nested(MAX_PREDICATE_DEPTH), _sized(MAX_PREDICATE_BYTES, f), {"x": f}],
        )
        for f in range(2)
    ]
    untyped = [_sized(MAX_PREDICATE_BYTES, 100 + index) for index in range(MAX_PREDICATES_PER_QUERY - 8)]
    filters += [
        EventFilter(payload_predicates=untyped[offset : offset + MAX_PREDICATES_PER_FILTER])
        for offset in range(0, len(untyped), MAX_PREDICATES_PER_FILTER)
    ]
    filters += [
        EventFilter(event_types=[f"only{f}-{t}" for t in range(MAX_EVENT_TYPES_PER_FILTER)])
        for f in range(MAX_FILTERS - len(filters))
    ]
    return EventQuery(filters=filters)


def test_the_largest_query_within_the_limits_works(store: EventStore) -> None:
    """C7: a query at every documented limit at once is answered (and, by the limits, cheaply) on every store."""
    query = _largest_query()
    assert len(query.filters or []) == MAX_FILTERS
    store.append([event("hit", {"k": 0}), event("miss", {"k": 0}), event("hit", {"k": 1}), event("only3-5")])
    result = store.query(query)
    assert [r.sequence_number for r in result.event_records] == [1, 3, 4]
    assert result.current_context_version == 4
    assert store.append_if([event("after")], query, 4).first_sequence_number == 5
    with pytest.raises(ConditionalAppendConflict):
        store.append_if([event("after")], query, 3)


def _over_the_limits() -> list[tuple[str, EventQuery]]:
    many = [{"k": n} for n in range(MAX_PREDICATES_PER_FILTER)]
    return [
        ("33-filters", EventQuery(filters=[EventFilter(event_types=[f"t{n}"]) for n in range(MAX_FILTERS + 1)])),
        ("129-types", EventQuery(filters=[EventFilter(event_types=[f"t{n}" for n in range(129)])])),
        ("65-predicates-in-a-filter", EventQuery(filters=[EventFilter(payload_predicates=[*many, {"k": -1}])])),
        (
            "257-predicates-in-a-query",
            EventQuery(
                filters=[
                    *(EventFilter(payload_predicates=[{"f": f, **p} for p in many]) for f in range(4)),
                    EventFilter(payload_predicates=[{"one": "more"}]),
                ]
            ),
        ),
        (
            "1025-type-predicate-pairs",
            EventQuery(
                filters=[
                    EventFilter(event_types=[f"t{n}" for n in range(128)], payload_predicates=many[:8]),
                    EventFilter(event_types=["t"], payload_predicates=[{"one": "more"}]),
                ]
            ),
        ),
        ("predicate-33-deep", EventQuery(filters=[EventFilter(payload_predicates=[_nested(MAX_PREDICATE_DEPTH + 1)])])),
        (
            "predicate-of-1025-bytes",
            EventQuery(filters=[EventFilter(payload_predicates=[_sized(MAX_PREDICATE_BYTES + 1, 0)])]),
        ),
        # More parameters than a PostgreSQL statement can carry (65,535): refused, never a backend error.
        ("70000-predicates", EventQuery(filters=[EventFilter(payload_predicates=[{"k": n} for n in range(70_000)])])),
    ]


OVER_THE_LIMITS = _over_the_limits()


@pytest.mark.parametrize(("label", "bad_query"), OVER_THE_LIMITS, ids=[label for label, _ in OVER_THE_LIMITS])
def test_a_query_over_a_limit_raises_invalid_input(store: EventStore, label: str, bad_query: EventQuery) -> None:
    """C7: a query beyond a documented limit raises InvalidInput in query, append_if and streams alike."""
    store.append([event("a", {"k": 1})])
    with pytest.raises(InvalidInput, match="limit"):
        store.query(bad_query)
    with pytest.raises(InvalidInput, match="limit"):
        store.append_if([event("b")], bad_query, None)
    with pytest.raises(InvalidInput, match="limit"):
        store.stream_to(bad_query, Recorder())
    with pytest.raises(InvalidInput, match="limit"):
        store.stream_to_durable("over", bad_query, Recorder())
    assert store.head() == 1
    assert store.durable_stream("over") is None


def test_every_error_derives_from_event_store_error(store: EventStore) -> None:
    """C7: all errors derive from EventStoreError and carry a message."""
    with pytest.raises(EventStoreError, match="event"):
        store.append([])
    with pytest.raises(EventStoreError, match=r"\S"):
        store.query(EventQuery(limit=-1))


__all__ = sorted(name for name in dict(globals()) if name.startswith("test_"))
