"""The SQL translation of filters: index-backed, and exactly as selective as the reference matcher."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factstr import EventFilter, EventQuery, NewEvent
from factstr._matching import query_matches
from factstr._model import JSON
from factstr._validation import check_query
from factstr.sqlite import SQLiteStore, _sql, _store
from factstr.sqlite._terms import predicate_words

# --- the property: SQL candidates + recheck == the reference matcher ------------------------------------------

KEYS = ["a", "b", "c"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=2),
    st.sampled_from([0.0, 1.0, -1.0, 2.5, 2**53, -(2**63), 1e300]),
    st.sampled_from(["x", "y", "", "1", "true", "null"]),
)
json_values: st.SearchStrategy[JSON] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=3),
    ),
    max_leaves=8,
)


@st.composite
def part_of(draw: st.DrawFn, value: JSON) -> JSON:
    """A predicate that is often contained in ``value``: a random piece of it, numbers in either form."""
    if isinstance(value, dict):
        keys = draw(st.lists(st.sampled_from(sorted(value)), unique=True)) if value else []
        return {key: draw(part_of(value[key])) for key in keys}
    if isinstance(value, list):
        chosen = draw(st.lists(st.sampled_from(value), max_size=2)) if value else []
        return [draw(part_of(element)) for element in chosen]
    if type(value) is int and draw(st.booleans()) and abs(value) < 2**53:
        return float(value)
    if type(value) is float and value.is_integer() and abs(value) < 2**53 and draw(st.booleans()):
        return int(value)
    return value


@st.composite
def logs_and_queries(draw: st.DrawFn) -> tuple[list[tuple[str, JSON]], list[EventFilter]]:
    events = draw(st.lists(st.tuples(st.sampled_from(["t1", "t2"]), json_values), min_size=1, max_size=12))
    payloads = [payload for _, payload in events]
    predicate = st.one_of(json_values, st.sampled_from(payloads).flatmap(part_of))
    filters = draw(
        st.lists(
            st.builds(
                EventFilter,
                event_types=st.one_of(st.none(), st.lists(st.sampled_from(["t1", "t2", "t3"]), max_size=2)),
                payload_predicates=st.lists(predicate, min_size=1, max_size=2),
            ),
            min_size=1,
            max_size=2,
        )
    )
    return events, filters


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=logs_and_queries(), backwards=st.booleans())
def test_sql_translation_returns_exactly_what_the_reference_matcher_matches(
    case: tuple[list[tuple[str, JSON]], list[EventFilter]], backwards: bool
) -> None:
    events, filters = case
    query = EventQuery(filters=filters, backwards=backwards)
    prepared = check_query(query).filters
    expected = [n for n, (t, p) in enumerate(events, start=1) if query_matches(prepared, t, p)]
    with (
        tempfile.TemporaryDirectory() as directory,
        SQLiteStore(Path(directory) / "e.db", durability="normal") as store,
    ):
        for event_type, payload in events:  # one batch each, so that batch starts differ too
            store.append([NewEvent(event_type, payload)])
        result = store.query(query)
        numbers = [record.sequence_number for record in result.event_records]
        assert numbers == (expected[::-1] if backwards else expected)
        assert result.current_context_version == (expected[-1] if expected else None)
        scan = store._scan(0, prepared, 1000)
        assert [record.sequence_number for record in scan.records] == expected
        for number in expected:  # a conditional append on the context's version is accepted
            assert (
                store.query(EventQuery(filters=filters, min_sequence_number=number)).current_context_version
                == (expected[-1])
            )
        for upto in range(len(events) + 1):  # the upper bound: the same walks, cut at ``upto``
            as_of = [number for number in expected if number <= upto]
            bounded = store.query(EventQuery(filters=filters, backwards=backwards, max_sequence_number=upto))
            assert [record.sequence_number for record in bounded.event_records] == (as_of[::-1] if backwards else as_of)
            assert bounded.current_context_version == (as_of[-1] if as_of else None)
            assert bounded.head == len(events)


# --- the planner ---------------------------------------------------------------------------------------------


def _plan(store: SQLiteStore, filters: list[EventFilter] | None) -> _sql.Plan:
    prepared = check_query(EventQuery(filters=filters)).filters
    with store._readers.snapshot() as connection:
        return store._plan(connection, prepared)


def _explain(store: SQLiteStore, plan: _sql.Plan) -> str:
    lines = []
    with store._readers.snapshot() as connection:
        for statement in plan.statements:
            for sql in (statement.forward_sql, statement.backward_sql):
                parameters: dict[str, Any] = dict(statement.values, low=0, high=100, limit=10)
                lines += [row[3] for row in connection.execute("EXPLAIN QUERY PLAN " + sql, parameters)]
    return "\n".join(lines)


@pytest.fixture
def populated(store: SQLiteStore) -> SQLiteStore:
    """A log where type "common" and term {"shared": 1} are frequent and type "rare" and each id are rare."""
    store.append(
        [NewEvent("common", {"id": f"e{n}", "shared": 1, "tags": ["x", {"k": n % 7}]}) for n in range(600)]
        + [NewEvent("rare", {"id": "r1", "shared": 1})]
    )
    return store


def test_a_type_filter_reads_the_type_index(populated: SQLiteStore) -> None:
    plan = _plan(populated, [EventFilter(event_types=["rare"])])
    assert plan.sources == (_sql.TypeSource("rare"),)
    explained = _explain(populated, plan)
    assert "INDEX events_by_type (event_type=? AND seq>? AND seq<?)" in explained
    assert "SCAN" not in explained


def test_a_predicate_reads_the_term_index_by_its_rarest_term(populated: SQLiteStore) -> None:
    plan = _plan(populated, [EventFilter(payload_predicates=[{"id": "e5", "shared": 1}])])
    assert plan.sources == (_sql.TermSource(predicate_words({"id": "e5"})[0], None),)  # the rare id, not "shared"
    explained = _explain(populated, plan)
    # The full-text index by its MATCH argument (M) within both bounds of the rowid range (> and <), in each
    # direction, and each candidate's row by its number.
    assert len(re.findall(r"SCAN t VIRTUAL TABLE INDEX \d+:M\d*><", explained)) == 2
    assert explained.count("SEARCH e USING INTEGER PRIMARY KEY (rowid=?)") == 2
    assert "SCAN events" not in explained and "USE TEMP B-TREE" not in explained


def test_the_narrower_index_wins(populated: SQLiteStore) -> None:
    rare_type = _plan(populated, [EventFilter(event_types=["rare"], payload_predicates=[{"shared": 1}])])
    assert rare_type.sources is not None and isinstance(rare_type.sources[0], _sql.TypeSource)
    rare_term = _plan(populated, [EventFilter(event_types=["common"], payload_predicates=[{"id": "e1"}])])
    assert rare_term.sources is not None and isinstance(rare_term.sources[0], _sql.TermSource)


def test_several_filters_read_a_union_of_index_walks(populated: SQLiteStore) -> None:
    plan = _plan(
        populated, [EventFilter(event_types=["rare"]), EventFilter(payload_predicates=[{"id": "e1"}, {"id": "e2"}])]
    )
    assert plan.sources is not None and len(plan.sources) == 3
    explained = _explain(populated, plan)
    assert "SCAN events" not in explained
    assert explained.count("SCAN t VIRTUAL TABLE INDEX") == 4  # two term walks, in both directions
    assert "USING COVERING INDEX events_by_type (event_type=? AND seq>? AND seq<?)" in explained


def test_a_predicate_without_scalar_leaves_falls_back_to_the_type(populated: SQLiteStore) -> None:
    plan = _plan(populated, [EventFilter(event_types=["rare"], payload_predicates=[{}, {"tags": []}])])
    assert plan.sources == (_sql.TypeSource("rare"),)


def test_only_a_query_that_cannot_narrow_reads_the_log_in_order(populated: SQLiteStore) -> None:
    for filters in (None, [EventFilter(payload_predicates=[{}])]):
        plan = _plan(populated, filters)
        assert plan.sources is None
        assert "SEARCH events USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in _explain(populated, plan)


def test_a_query_that_matches_nothing_reads_nothing(populated: SQLiteStore) -> None:
    assert _plan(populated, [EventFilter(event_types=[])]).empty
    assert populated.query(EventQuery(filters=[EventFilter(payload_predicates=[])])).event_records == []


def test_string_values_cannot_inject_sql(store: SQLiteStore) -> None:
    hostile = "x'); DROP TABLE events; --"
    store.append([NewEvent(hostile, {hostile: hostile})])
    query = EventQuery(filters=[EventFilter(event_types=[hostile], payload_predicates=[{hostile: hostile}])])
    assert [r.event_type for r in store.query(query).event_records] == [hostile]
    store.stream_all_durable(hostile, lambda batch: None).unsubscribe()
    assert store.durable_stream(hostile) is not None


def test_queries_with_very_many_alternatives_are_split_into_several_statements(store: SQLiteStore) -> None:
    store.append([NewEvent(f"t{n}", {"k": n}) for n in range(700)])
    # Within the query limits: at most 128 types and 64 predicates per filter, 256 predicates per query.
    types = [f"t{n}" for n in range(0, 700, 2)] + ["t1"]
    many_types = EventQuery(filters=[EventFilter(event_types=types[i : i + 128]) for i in range(0, len(types), 128)])
    odd = [{"k": n} for n in range(1, 500, 2)]
    many_predicates = EventQuery(filters=[EventFilter(payload_predicates=odd[i : i + 64]) for i in range(0, 250, 64)])
    for query, expected in ((many_types, [1, *range(0, 700, 2)]), (many_predicates, list(range(1, 500, 2)))):
        plan = _plan(store, list(query.filters or []))
        assert len(plan.statements) > 1
        for backwards in (False, True):
            flipped = EventQuery(filters=query.filters, backwards=backwards)
            numbers = [r.sequence_number - 1 for r in store.query(flipped).event_records]
            assert numbers == (sorted(expected, reverse=True) if backwards else sorted(expected))


def test_a_predicate_with_many_leaves_is_read_by_one_term_and_checked_by_the_matcher(store: SQLiteStore) -> None:
    big = {f"f{n}": n for n in range(80)}  # 80 leaves, within the 1 KiB limit of a predicate
    store.append([NewEvent("big", big), NewEvent("big", {**big, "f79": -1})])
    for types in (None, ["big"]):
        result = store.query(EventQuery(filters=[EventFilter(event_types=types, payload_predicates=[big])]))
        assert [r.sequence_number for r in result.event_records] == [1]


def test_a_predicate_with_very_many_event_types_reads_the_term_index(store: SQLiteStore) -> None:
    store.append([NewEvent("wanted", {"id": "x"}), NewEvent("other", {"id": "x"})])
    types = ["wanted", *(f"unused{n}" for n in range(127))]  # above MAX_CHECKED_TYPES, within the query limits
    query = EventQuery(filters=[EventFilter(event_types=types, payload_predicates=[{"id": "x"}])])
    assert [r.sequence_number for r in store.query(query).event_records] == [1]


def test_the_compiler_is_pure_and_picks_the_rarest_term_to_read_a_predicate() -> None:
    predicate = {"common": 1, "rare": 2}
    (common,) = predicate_words({"common": 1})
    (rare,) = predicate_words({"rare": 2})
    counts = {common: 256, rare: 3}

    def estimate(source: _sql.Source) -> int:
        return counts[source.word] if isinstance(source, _sql.TermSource) else 256

    filters = check_query(EventQuery(filters=[EventFilter(payload_predicates=[predicate])])).filters
    plan = _sql.plan_query(filters, estimate)
    assert plan.sources == (_sql.TermSource(rare, None),)
    assert len(plan.statements) == 1
    assert set(plan.statements[0].values.values()) == {rare}  # values travel as parameters
    assert rare not in plan.statements[0].forward_sql


def test_a_plan_is_reused_for_a_second_and_stays_correct_when_the_log_changes(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.append([NewEvent("order", {"id": "o1"})] + [NewEvent("other", {"id": "o1"}) for _ in range(300)])
    query = EventQuery(filters=[EventFilter(event_types=["order"], payload_predicates=[{"id": "o1"}])])
    filters = check_query(query).filters
    first = _plan(store, list(query.filters or []))
    assert _plan(store, list(query.filters or [])) is first  # a command's check reuses its query's plan
    assert first.sources == (_sql.TypeSource("order"),)  # one order: the type is the narrower index
    # The log changes so that the type is no longer narrower: the reused plan still answers right.
    store.append([NewEvent("order", {"id": f"x{n}"}) for n in range(600)] + [NewEvent("order", {"id": "o1"})])
    assert [r.sequence_number for r in store.query(query).event_records] == [1, 902]
    assert store._plans[msgspec.json.encode(filters)][1] is first
    monkeypatch.setattr(_store, "_PLAN_SECONDS", 0.0)  # and a plan older than that is made again
    remade = _plan(store, list(query.filters or []))
    assert remade.sources is not None and isinstance(remade.sources[0], _sql.TermSource)
    assert [r.sequence_number for r in store.query(query).event_records] == [1, 902]
