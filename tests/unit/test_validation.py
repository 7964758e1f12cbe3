"""Input validation (C7) as pure functions."""

from __future__ import annotations

import pytest

from factstr import EmptyAppend, EventFilter, EventQuery, InvalidInput, NewEvent
from factstr._validation import (
    check_durable_name,
    check_events,
    check_expected_version,
    check_json,
    check_query,
    check_start,
    filters_from_json,
    filters_to_json,
    filters_to_query,
)


def test_empty_events_raise_empty_append_which_is_invalid_input() -> None:
    with pytest.raises(EmptyAppend):
        check_events([], 100)
    with pytest.raises(EmptyAppend):
        check_events((), 100)
    assert issubclass(EmptyAppend, InvalidInput)


def test_prepared_events_carry_compact_json() -> None:
    (prepared,) = check_events([NewEvent("a", {"k": [1, 2.5, None]})], 100)
    assert prepared.payload_json == '{"k":[1,2.5,null]}'


def test_error_messages_say_where() -> None:
    with pytest.raises(InvalidInput, match=r"events\[1\]\.payload\['k'\]\[0\]"):
        check_events([NewEvent("a", {}), NewEvent("a", {"k": [float("nan")]})], 100)


def test_deep_nesting_is_refused_rather_than_crashing() -> None:
    value: list[object] = []
    for _ in range(10_000):
        value = [value]
    with pytest.raises(InvalidInput, match="deeper"):
        check_json(value, "payload")


def test_shared_but_acyclic_values_are_fine() -> None:
    shared = {"x": 1}
    check_json({"a": shared, "b": shared, "c": [shared, shared]}, "payload")


def test_expected_version_zero_means_none() -> None:
    assert check_expected_version(0) is None
    assert check_expected_version(None) is None
    assert check_expected_version(4) == 4


@pytest.mark.parametrize("start", ["beginning", "end", 0, 12])
def test_start_values(start: object) -> None:
    assert check_start(start) == start


def test_durable_name_from_str_or_durable_stream() -> None:
    from factstr import DurableStream

    assert check_durable_name("n") == check_durable_name(DurableStream("n")) == "n"


def test_filters_round_trip_through_their_canonical_json() -> None:
    query = EventQuery(
        filters=[
            EventFilter(event_types=["b", "a", "a"], payload_predicates=[{"z": 1.0, "a": [2, 1, 2]}]),
            EventFilter(payload_predicates=[None, 3]),
        ]
    )
    filters = check_query(query).filters
    text = filters_to_json(filters)
    assert filters_from_json(text) == filters
    assert check_query(filters_to_query(filters)).filters == filters
    assert '"z":1' in text and '"a":[1,2]' in text


def test_a_query_matching_nothing_stays_matching_nothing_after_a_round_trip() -> None:
    filters = check_query(EventQuery(filters=[EventFilter(event_types=[])])).filters
    assert filters == ()
    assert check_query(filters_to_query(filters)).filters == ()
    assert filters_from_json(filters_to_json(filters)) == ()
