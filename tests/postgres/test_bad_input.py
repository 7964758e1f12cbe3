"""Bad input against PostgreSQL: unreachable servers, NUL characters, lone surrogates, hostile strings, extreme
numbers, and the largest allowed query."""

from __future__ import annotations

import re
import time

import pytest

from factstr import BackendError, EventFilter, EventQuery, InvalidInput, NewEvent
from factstr._matching import query_matches
from factstr._validation import check_query
from factstr.postgres import PostgresStore
from factstr.postgres import _sql as statements
from factstr.testing.conformance.c7_errors import _largest_query

HOSTILE = [
    "'); drop table x; --",
    '"; drop schema factstr cascade; --',
    "$body$ select 1 $body$",
    "%s %(x)s {} {0}",
    "back\\slash 'quote' \"double\"",
    "ünïcødé ✓ 𝄞",
    " ",
]


def test_an_unreachable_server_is_a_backend_error_naming_host_and_port() -> None:
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"127\.0\.0\.1:1\b") as raised:
        PostgresStore("postgresql://postgres@127.0.0.1:1/test")
    assert time.monotonic() - started < 10
    assert raised.value.__cause__ is not None


def test_a_silent_server_is_given_up_after_connect_timeout() -> None:
    # 192.0.2.0/24 is reserved for documentation: nothing answers there (or the network refuses at once).
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"192\.0\.2\.1:5432"):
        PostgresStore("postgresql://postgres@192.0.2.1:5432/test?connect_timeout=1")
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    "event",
    [NewEvent("a\x00b", {}), NewEvent("t", {"k\x00": 1}), NewEvent("t", {"k": "v\x00"})],
    ids=["type", "key", "value"],
)
def test_nul_characters_are_invalid_input(store: PostgresStore, event: NewEvent) -> None:
    with pytest.raises(InvalidInput, match="NUL"):
        store.append([event])
    assert store.head() is None


@pytest.mark.parametrize(
    "event",
    [NewEvent("a\ud800", {}), NewEvent("t", {"k\udfff": 1}), NewEvent("t", {"k": ["v\udc00"]})],
    ids=["type", "key", "value"],
)
def test_lone_surrogates_are_invalid_input_not_encoding_errors(store: PostgresStore, event: NewEvent) -> None:
    with pytest.raises(InvalidInput, match="lone surrogate"):
        store.append([event])
    with pytest.raises(InvalidInput, match="lone surrogate"):
        store.query(EventQuery(filters=[EventFilter(payload_predicates=[event.payload], event_types=["\ud800"])]))
    with pytest.raises(InvalidInput, match="lone surrogate"):
        store.stream_all_durable("a\ud800", lambda batch: None)
    assert store.head() is None


def test_the_largest_allowed_query_is_one_parameter_and_is_answered_exactly(store: PostgresStore) -> None:
    # PostgreSQL refuses a statement with more than 65,535 parameters: a query travels as one JSON parameter
    # (plus its bounds and limit), whatever its size.
    for text in (statements.QUERY_FORWARD, statements.QUERY_BACKWARD):
        assert set(re.findall(r"\$(\d+)", text)) == {"1", "2", "3", "4"}
    assert set(re.findall(r"\$(\d+)", statements.SCAN)) == {"1", "2", "3"}
    query = _largest_query()
    filters = check_query(query).filters
    assert filters is not None
    first = filters[0]
    events = [
        NewEvent(event_type, predicate)
        for event_type in (first.types or ("t",))[:3]
        for predicate in (first.predicates or ({},))[:3]
    ]
    store.append(events)
    result = store.query(query)
    expected = [
        number
        for number, event in enumerate(events, start=1)
        if query_matches(filters, event.event_type, event.payload)
    ]
    assert [record.sequence_number for record in result.event_records] == expected
    assert result.current_context_version == (expected[-1] if expected else None)


def test_nul_in_a_durable_name_is_invalid_input(store: PostgresStore) -> None:
    with pytest.raises(InvalidInput, match="NUL"):
        store.stream_all_durable("a\x00b", lambda batch: None)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_round_trip_and_match_exactly(store: PostgresStore, text: str) -> None:
    payload = {text: text, "list": [text, {text: [text]}]}
    store.append([NewEvent(text, payload)])
    query = EventQuery(filters=[EventFilter(event_types=[text], payload_predicates=[{text: text}])])
    result = store.query(query)
    assert [(record.event_type, record.payload) for record in result.event_records] == [(text, payload)]
    assert store.query(EventQuery(filters=[EventFilter(payload_predicates=[{text: text + "x"}])])).event_records == []


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_durable_names_round_trip(store: PostgresStore, text: str) -> None:
    with store.stream_all_durable(text, lambda batch: None):
        pass
    info = store.durable_stream(text)
    assert info is not None and info.name == text
    store.delete_durable_stream(text)
    assert store.durable_stream(text) is None


EXTREME_NUMBERS = [
    2**63 - 1,
    -(2**63),
    0,
    -0.0,
    2.0**60,
    1e16,
    1e300,
    -1e300,
    5e-324,
    1e-7,
    0.1,
    1.7976931348623157e308,
]


def test_extreme_numbers_round_trip_with_their_kind(store: PostgresStore) -> None:
    store.append([NewEvent("n", {"value": number}) for number in EXTREME_NUMBERS])
    payloads = [record.payload["value"] for record in store.query(EventQuery()).event_records]
    assert payloads == EXTREME_NUMBERS
    assert [type(value) for value in payloads] == [type(value) for value in EXTREME_NUMBERS]


@pytest.mark.parametrize("number", EXTREME_NUMBERS)
def test_extreme_numbers_match_themselves_only(store: PostgresStore, number: float) -> None:
    store.append([NewEvent("n", {"value": value}) for value in EXTREME_NUMBERS])
    query = EventQuery(filters=[EventFilter(payload_predicates=[{"value": number}])])
    found = [record.payload["value"] for record in store.query(query).event_records]
    assert found == [value for value in EXTREME_NUMBERS if value == number]


def test_integers_beyond_64_bits_are_invalid_input(store: PostgresStore) -> None:
    with pytest.raises(InvalidInput, match="64-bit"):
        store.append([NewEvent("n", {"value": 2**63})])
