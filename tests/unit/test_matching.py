"""The reference matcher (C2) as a pure function, edge case by edge case."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from factstr import EventFilter, EventQuery
from factstr._matching import Filter, json_contains, query_matches
from factstr._validation import check_query

CASES = [
    # (predicate, value, expected)
    (1, 1.0, True),
    (1.0, 1, True),
    (1, 2, False),
    (True, 1, False),
    (1, True, False),
    (False, 0, False),
    (0, False, False),
    (True, True, True),
    (None, None, True),
    (None, 0, False),
    (None, {}, False),
    ("a", "a", True),
    ("a", ["a", "b"], False),
    ("1", 1, False),
    ({}, {}, True),
    ({}, {"a": 1}, True),
    ({}, [], False),
    ({}, None, False),
    ({}, "x", False),
    ([], [], True),
    ([], [1, 2], True),
    ([], {}, False),
    ([], "x", False),
    ({"a": 1}, {"a": 1, "b": 2}, True),
    ({"a": 1, "b": 2}, {"a": 1}, False),
    ({"a": None}, {}, False),
    ({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}, True),
    ({"a": {"b": 1}}, {"a": {"b": 2}}, False),
    ({"t": "a"}, {"t": ["a"]}, False),
    ({"t": ["a"]}, {"t": "a"}, False),
    (["a", "a"], ["a"], True),
    (["b", "a"], ["a", "b", "c"], True),
    (["a", "d"], ["a", "b"], False),
    ([[1]], [[1, 2], [3]], True),
    ([[1, 3]], [[1, 2], [3]], False),
    ([{"k": 1}], [{"k": 1, "v": 2}, {"k": 2}], True),
    ([{"k": 1, "v": 3}], [{"k": 1, "v": 2}, {"v": 3}], False),
    ([{"k": 1}, {"k": 2}], [{"k": 2}, {"k": 1}], True),
    ({"lines": [{"sku": "x"}]}, {"lines": [{"sku": "y"}, {"sku": "x", "q": 1}]}, True),
]


@pytest.mark.parametrize(("predicate", "value", "expected"), CASES)
def test_json_contains_follows_c2(predicate: object, value: object, expected: bool) -> None:
    assert json_contains(predicate, value) is expected


def _matches(query: EventQuery, event_type: str, payload: object) -> bool:
    return query_matches(check_query(query).filters, event_type, payload)


def test_no_filters_and_empty_filters_match_everything() -> None:
    assert _matches(EventQuery(), "a", 1)
    assert _matches(EventQuery(filters=[]), "a", None)


def test_empty_types_or_empty_predicates_match_nothing() -> None:
    assert not _matches(EventQuery(filters=[EventFilter(event_types=[])]), "a", {})
    assert not _matches(EventQuery(filters=[EventFilter(payload_predicates=[])]), "a", {})
    assert check_query(EventQuery(filters=[EventFilter(event_types=[])])).filters == ()


def test_a_filter_matching_everything_makes_the_query_match_everything() -> None:
    query = EventQuery(filters=[EventFilter(event_types=["x"]), EventFilter()])
    assert check_query(query).filters is None


def test_type_and_payload_parts_are_both_required() -> None:
    flt = Filter(("a",), ({"k": 1},))
    assert query_matches((flt,), "a", {"k": 1})
    assert not query_matches((flt,), "b", {"k": 1})
    assert not query_matches((flt,), "a", {"k": 2})


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([1.0, 2.5]), st.sampled_from("xy")),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.sampled_from("abc"), children)),
    max_leaves=8,
)


@given(json_values)
def test_every_value_contains_itself(value: object) -> None:
    assert json_contains(value, value)
