"""The posting index's hashes: pinned (they are stored), and a necessary condition for containment (C2)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from factstr import EventFilter
from factstr._matching import json_contains
from factstr._model import JSON
from factstr._validation import check_filters
from factstr.postgres._terms import (
    _context_spec,
    context_spec,
    leaves,
    payload_terms,
    predicate_terms,
    term_hash,
    type_key,
)

from .test_matching_sql import DOCUMENTS, part_of


def test_the_hashes_are_the_stored_ones() -> None:
    # Rows written by one version are looked up by hashes computed by the next: these values never change
    # (a change needs a schema migration that rewrites the postings).
    assert type_key("OrderPlaced") == -5625354094986415656
    assert payload_terms({"account": "acct-1"}) == [1532779885308222554]
    assert term_hash(("a", 0, "b"), "n1") == 1998419265263123274
    assert predicate_terms(None) == [2682488318223605146]
    assert predicate_terms([True]) == [1247954944629931031]


def test_equal_numbers_are_one_term_and_other_kinds_are_not() -> None:
    assert predicate_terms({"n": 2**60}) == predicate_terms({"n": 2.0**60}) == [1906555835521718495]
    assert predicate_terms({"n": 1}) == predicate_terms({"n": 1.0}) == predicate_terms({"n": -0.0 + 1})
    assert predicate_terms({"n": 0}) == predicate_terms({"n": -0.0})
    assert len({predicate_terms({"n": value})[0] for value in (1, True, "1", None, 1.5)}) == 5
    assert predicate_terms("a") != predicate_terms(["a"])  # a scalar never matches an array (C2)


@st.composite
def contained(draw: st.DrawFn) -> tuple[JSON, JSON]:
    payload = draw(DOCUMENTS)
    return payload, draw(part_of(payload))


@settings(max_examples=500, deadline=None)
@given(pair=contained(), other=DOCUMENTS)
def test_a_contained_predicate_has_only_terms_of_the_payload(pair: tuple[JSON, JSON], other: JSON) -> None:
    payload, predicate = pair
    assert json_contains(predicate, payload)
    assert set(predicate_terms(predicate)) <= set(payload_terms(payload))
    if json_contains(other, payload):
        assert set(predicate_terms(other)) <= set(payload_terms(payload))


@settings(max_examples=300, deadline=None)
@given(payload=DOCUMENTS)
def test_the_fast_path_for_objects_gives_every_leaf_once(payload: JSON) -> None:
    terms = payload_terms(payload)
    assert len(terms) == len(set(terms))
    assert set(terms) == {term_hash(path, text) for path, text in leaves(payload)}


def test_specs_are_remembered_by_the_filters_json_and_never_mixed_up() -> None:
    def spec(*predicates: JSON) -> str:
        return context_spec(check_filters([EventFilter(event_types=["a"], payload_predicates=list(predicates))]))

    assert spec({"n": 1}) is spec({"n": 1})  # remembered
    assert spec({"n": 1}) == _context_spec(
        check_filters([EventFilter(event_types=["a"], payload_predicates=[{"n": 1}])])
    )
    assert len({spec({"n": 1}), spec({"n": True}), spec({"n": "1"}), spec({"n": None})}) == 4


@settings(max_examples=300, deadline=None)
@given(
    payload=st.dictionaries(
        st.text(max_size=12),
        st.one_of(st.text(max_size=20), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none()),
        max_size=6,
    )
)
def test_top_level_scalars_hash_as_their_paths_do_whatever_the_key(payload: dict[str, JSON]) -> None:
    # Top-level scalars take a shortcut (a state that has hashed the key already, caches by key and value); any
    # key text, escaped or not, and a second lookup from the caches give the term of the general definition.
    expected = {term_hash(path, text) for path, text in leaves(payload)}
    assert set(payload_terms(payload)) == expected
    assert set(payload_terms(payload)) == expected
