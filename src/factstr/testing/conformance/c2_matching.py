"""Conformance tests of C2: matching (see docs/contract.md)."""

from __future__ import annotations

from ..._model import EventFilter, EventQuery, NewEvent
from ..._store import EventStore
from .._helpers import event, matching_numbers, query, seed


def test_no_filters_and_empty_filters_match_every_event(store: EventStore) -> None:
    """C2: filters None or [] match every event."""
    seed(store)
    assert matching_numbers(store, EventQuery(filters=None)) == [1, 2, 3, 4, 5]
    assert matching_numbers(store, EventQuery(filters=[])) == [1, 2, 3, 4, 5]


def test_filters_are_alternatives(store: EventStore) -> None:
    """C2: an event matches when any filter matches."""
    seed(store)
    q = EventQuery(filters=[EventFilter(event_types=["closed"]), EventFilter(payload_predicates=[{"amount": 7}])])
    assert matching_numbers(store, q) == [4, 5]


def test_type_and_payload_parts_must_both_match(store: EventStore) -> None:
    """C2: a filter needs its type part AND its payload part."""
    seed(store)
    assert matching_numbers(store, query(types=["deposited"], predicates=[{"account": "a"}])) == [3]


def test_event_types_match_exactly_and_case_sensitively(store: EventStore) -> None:
    """C2: the type equals one entry exactly."""
    store.append([event("Opened"), event("opened"), event("opened-later")])
    assert matching_numbers(store, query(types=["opened"])) == [2]
    assert matching_numbers(store, query(types=["Opened", "opened-later"])) == [1, 3]


def test_empty_event_types_match_nothing(store: EventStore) -> None:
    """C2: event_types [] matches nothing."""
    seed(store)
    assert matching_numbers(store, query(types=[])) == []
    assert store.query(query(types=[])).current_context_version is None


def test_empty_payload_predicates_match_nothing(store: EventStore) -> None:
    """C2: payload_predicates [] matches nothing."""
    seed(store)
    assert matching_numbers(store, query(types=["opened"], predicates=[])) == []


def test_payload_predicates_are_alternatives(store: EventStore) -> None:
    """C2: a payload part matches when any predicate is a subset of the payload."""
    seed(store)
    assert matching_numbers(store, query(predicates=[{"amount": 5}, {"amount": 7}])) == [3, 4]


def test_object_predicate_allows_extra_keys(store: EventStore) -> None:
    """C2: every key of the predicate must be in the value; extra keys are fine."""
    store.append([event("e", {"a": 1, "b": 2}), event("e", {"a": 1}), event("e", {"b": 2})])
    assert matching_numbers(store, query(predicates=[{"a": 1, "b": 2}])) == [1]
    assert matching_numbers(store, query(predicates=[{"a": 1}])) == [1, 2]


def test_nested_object_predicate_matches_recursively(store: EventStore) -> None:
    """C2: subset is recursive into objects."""
    store.append([event("e", {"room": {"id": 7, "floor": 2}}), event("e", {"room": {"id": 8}})])
    assert matching_numbers(store, query(predicates=[{"room": {"id": 7}}])) == [1]


def test_empty_object_predicate_matches_only_objects(store: EventStore) -> None:
    """C2: {} matches any object and nothing else."""
    store.append([event("e", {}), event("e", {"a": 1}), NewEvent("e", []), NewEvent("e", 3), NewEvent("e", None)])
    assert matching_numbers(store, query(predicates=[{}])) == [1, 2]
    store.append([event("e", {"a": {"b": 1}}), event("e", {"a": [1]}), event("e", {"a": 1})])
    assert matching_numbers(store, query(predicates=[{"a": {}}])) == [6]


def test_empty_array_predicate_matches_any_array(store: EventStore) -> None:
    """C2: [] inside a predicate matches any array, and only arrays."""
    store.append([event("e", {"t": []}), event("e", {"t": [1, 2]}), event("e", {"t": {}}), event("e", {"t": 1})])
    assert matching_numbers(store, query(predicates=[{"t": []}])) == [1, 2]


def test_array_predicate_ignores_order_and_duplicates(store: EventStore) -> None:
    """C2: every predicate element must be a subset of some value element."""
    store.append([event("e", {"tags": ["a", "b", "c"]}), event("e", {"tags": ["a"]})])
    assert matching_numbers(store, query(predicates=[{"tags": ["c", "a", "a"]}])) == [1]
    assert matching_numbers(store, query(predicates=[{"tags": ["a"]}])) == [1, 2]


def test_nested_arrays_of_objects_match_element_wise(store: EventStore) -> None:
    """C2: array elements that are objects match by subset, each against some element."""
    store.append(
        [
            event("e", {"lines": [{"sku": "x", "qty": 1}, {"sku": "y", "qty": 2}]}),
            event("e", {"lines": [{"sku": "x", "qty": 2}]}),
        ]
    )
    assert matching_numbers(store, query(predicates=[{"lines": [{"sku": "x", "qty": 1}]}])) == [1]
    assert matching_numbers(store, query(predicates=[{"lines": [{"sku": "x"}, {"qty": 2}]}])) == [1, 2]
    assert matching_numbers(store, query(predicates=[{"lines": [{"sku": "y", "qty": 1}]}])) == []


def test_integer_predicate_matches_equal_float(store: EventStore) -> None:
    """C2: numbers compare by numeric value: 1 matches 1.0 and 1.0 matches 1."""
    store.append([event("e", {"n": 1.0}), event("e", {"n": 1}), event("e", {"n": 1.5})])
    assert matching_numbers(store, query(predicates=[{"n": 1}])) == [1, 2]
    assert matching_numbers(store, query(predicates=[{"n": 1.0}])) == [1, 2]
    assert matching_numbers(store, query(predicates=[{"n": 1.5}])) == [3]


def test_booleans_never_match_numbers(store: EventStore) -> None:
    """C2: true never matches 1 and false never matches 0, either way round."""
    store.append([event("e", {"v": True}), event("e", {"v": 1}), event("e", {"v": False}), event("e", {"v": 0})])
    assert matching_numbers(store, query(predicates=[{"v": True}])) == [1]
    assert matching_numbers(store, query(predicates=[{"v": 1}])) == [2]
    assert matching_numbers(store, query(predicates=[{"v": False}])) == [3]
    assert matching_numbers(store, query(predicates=[{"v": 0}])) == [4]


def test_null_matches_only_null(store: EventStore) -> None:
    """C2: null matches only null (a missing key is not null)."""
    store.append([event("e", {"v": None}), event("e", {"v": 0}), event("e", {"v": ""}), event("e", {})])
    assert matching_numbers(store, query(predicates=[{"v": None}])) == [1]


def test_strings_do_not_match_numbers(store: EventStore) -> None:
    """C2: scalars match only when of the same JSON kind."""
    store.append([event("e", {"v": "1"}), event("e", {"v": 1})])
    assert matching_numbers(store, query(predicates=[{"v": "1"}])) == [1]


def test_scalar_predicate_never_matches_an_array(store: EventStore) -> None:
    """C2: a scalar predicate never matches an array value, at the top level or nested."""
    store.append([NewEvent("e", ["a", "b"]), NewEvent("e", "a"), event("e", {"t": ["a"]}), event("e", {"t": "a"})])
    assert matching_numbers(store, query(predicates=["a"])) == [2]
    assert matching_numbers(store, query(predicates=[{"t": "a"}])) == [4]


def test_array_predicate_never_matches_a_scalar_or_object(store: EventStore) -> None:
    """C2: other pairs of kinds never match."""
    store.append([event("e", {"t": "a"}), event("e", {"t": {"0": "a"}}), event("e", {"t": ["a"]})])
    assert matching_numbers(store, query(predicates=[{"t": ["a"]}])) == [3]


def test_top_level_scalar_predicates_match_equal_scalar_payloads(store: EventStore) -> None:
    """C2: a scalar payload matches an equal scalar predicate of the same kind."""
    store.append([NewEvent("e", 3), NewEvent("e", 3.0), NewEvent("e", "3"), NewEvent("e", True), NewEvent("e", None)])
    assert matching_numbers(store, query(predicates=[3])) == [1, 2]
    assert matching_numbers(store, query(predicates=[None])) == [5]
    assert matching_numbers(store, query(predicates=[True])) == [4]


def test_hostile_strings_are_matched_as_plain_values(store: EventStore) -> None:
    """C7: quotes, SQL and JSON path syntax in types, keys and values are plain data."""
    hostile = "'); drop table events; --"
    payload = {hostile: hostile, '"key"': "$.a[*] ? (@ == 1)", "back\\slash": "%_"}
    store.append([NewEvent(hostile, payload), NewEvent("other", {"x": "%"})])
    records = store.query(query(types=[hostile], predicates=[{hostile: hostile}])).event_records
    assert [(r.event_type, r.payload) for r in records] == [(hostile, payload)]
    assert matching_numbers(store, query(predicates=[{"back\\slash": "%_"}])) == [1]
    assert matching_numbers(store, query(predicates=[{"x": "_"}])) == []


def test_unicode_and_large_numbers_round_trip_and_match(store: EventStore) -> None:
    """C1, C2: non-ASCII text and 64-bit integers are kept and matched exactly."""
    big = 2**63 - 1
    store.append([event("e", {"name": "Zoë 🚀", "n": big, "m": -(2**63), "f": 1e300})])
    record = store.query(EventQuery()).event_records[0]
    assert record.payload == {"name": "Zoë 🚀", "n": big, "m": -(2**63), "f": 1e300}
    assert matching_numbers(store, query(predicates=[{"n": big}])) == [1]
    assert matching_numbers(store, query(predicates=[{"n": big - 1}])) == []
    assert matching_numbers(store, query(predicates=[{"name": "Zoë 🚀"}])) == [1]


__all__ = sorted(name for name in dict(globals()) if name.startswith("test_"))
