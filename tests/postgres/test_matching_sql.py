"""The posting index and the SQL recheck agree with the reference matcher on every input (property-based).

Over random logs and random filters, every way the store matches is compared with
:func:`factstr._matching.query_matches`: query records (forwards, backwards, after a bound, limited), context
versions, the ``context_version`` function above a bound (what ``append_if`` checks under the head lock, for the
facts committed after its first evaluation), stream reads, and ``append_if`` itself (it commits on the right
version and conflicts with the right actual one).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from factstr import ConditionalAppendConflict, EventFilter, EventQuery, NewEvent
from factstr._matching import Filters, query_matches
from factstr._model import JSON
from factstr._validation import check_filters
from factstr.postgres import PostgresStore
from factstr.postgres._terms import context_spec

# Few distinct keys and scalars, so that random predicates often match random payloads.
SCALARS = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        1,
        -1,
        2**60,
        2**63 - 1,
        -(2**63),
        0.0,
        1.0,
        1.5,
        -0.0,
        2.0**60,
        1e16,
        1e300,
        1e-7,
        "",
        "a",
        "b",
        "1",
        "true",
    ]
)
KEYS = st.sampled_from(["a", "b", "c"])
DOCUMENTS: st.SearchStrategy[JSON] = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)
TYPES = st.sampled_from(["A", "B"])


@st.composite
def part_of(draw: st.DrawFn, value: JSON) -> JSON:
    """A predicate contained in ``value`` (C2), sometimes with an int/float twin of a number."""
    if type(value) is dict:
        keys = draw(st.lists(st.sampled_from(sorted(value)), unique=True)) if value else []
        return {key: draw(part_of(value[key])) for key in keys}
    if type(value) is list:
        chosen = draw(st.lists(st.sampled_from(value), max_size=3)) if value else []
        return [draw(part_of(element)) for element in chosen]
    if type(value) is int and abs(value) < 2**53 and draw(st.booleans()):
        return float(value)
    if type(value) is float and value.is_integer() and abs(value) < 2**63 and draw(st.booleans()):
        return int(value)
    return value


@st.composite
def predicates(draw: st.DrawFn, payloads: list[JSON]) -> JSON:
    if draw(st.booleans()) and payloads:
        return draw(part_of(draw(st.sampled_from(payloads))))
    return draw(DOCUMENTS)


@st.composite
def filters(draw: st.DrawFn, payloads: list[JSON]) -> list[EventFilter]:
    chosen = []
    for _ in range(draw(st.integers(1, 2))):
        types = draw(st.none() | st.lists(TYPES, max_size=2))
        found = draw(st.none() | st.lists(predicates(payloads), max_size=3))
        chosen.append(EventFilter(event_types=types, payload_predicates=found))
    return chosen


@pytest.fixture(scope="module")
def shared_store() -> Iterator[tuple[PostgresStore, list[tuple[str, JSON]]]]:
    """One store for every example, and the log as the test believes it to be (grows across examples)."""
    from factstr.testing._postgres_backend import drop_schema, require_server, url_with_schema

    require_server()
    # Unique per run: parallel test runs on the same server must never share the log this test keeps in step.
    schema = f"factstr_t_matching_property_{uuid.uuid4().hex}"
    store = PostgresStore(url_with_schema(schema))
    try:
        yield store, []
    finally:
        store.close()
        drop_schema(schema)


def check_one_example(shared_store: tuple[PostgresStore, list[tuple[str, JSON]]], data: st.DataObject) -> None:
    """Append a random batch, run random filters every way the store matches, compare with the reference."""
    store, log = shared_store
    batch = data.draw(st.lists(st.tuples(TYPES, DOCUMENTS), min_size=1, max_size=6), label="appended")
    store.append([NewEvent(event_type, payload) for event_type, payload in batch])
    log.extend(batch)
    chosen = data.draw(filters([payload for _, payload in batch]), label="filters")
    normalised = check_filters(chosen)
    expected = [
        number
        for number, (event_type, payload) in enumerate(log, start=1)
        if query_matches(normalised, event_type, payload)
    ]
    version = expected[-1] if expected else None

    result = store.query(EventQuery(filters=chosen))
    assert [record.sequence_number for record in result.event_records] == expected
    assert result.current_context_version == version

    # Drawn independently of the log's length, which grows across examples (hypothesis replays draws).
    after = len(log) * data.draw(st.integers(0, 8), label="after eighths") // 8
    limit = data.draw(st.none() | st.integers(1, 4), label="limit")
    later = [number for number in expected if number > after]
    forwards = store.query(EventQuery(filters=chosen, min_sequence_number=after, limit=limit))
    assert [record.sequence_number for record in forwards.event_records] == later[:limit]
    assert forwards.current_context_version == version
    backwards = store.query(EventQuery(filters=chosen, min_sequence_number=after, limit=limit, backwards=True))
    assert [record.sequence_number for record in backwards.event_records] == later[::-1][:limit]

    chunk = limit or 1000
    scan = store._scan(after, normalised, chunk)
    assert [record.sequence_number for record in scan.records] == later[:chunk]
    assert scan.horizon == (later[chunk - 1] if len(later) >= chunk else len(log))

    assert newest_above(store, normalised, after) == (later[-1] if later else None)

    # The upper bound (max_sequence_number): the same walks, cut from above.
    upto = len(log) * data.draw(st.integers(0, 8), label="upto eighths") // 8
    window = [number for number in later if number <= upto]
    as_of = [number for number in expected if number <= upto]
    bounded = store.query(EventQuery(filters=chosen, min_sequence_number=after, limit=limit, max_sequence_number=upto))
    assert [record.sequence_number for record in bounded.event_records] == window[:limit]
    assert bounded.current_context_version == (as_of[-1] if as_of else None)
    newest_first = store.query(
        EventQuery(filters=chosen, min_sequence_number=after, limit=limit, backwards=True, max_sequence_number=upto)
    )
    assert [record.sequence_number for record in newest_first.event_records] == window[::-1][:limit]
    assert newest_above(store, normalised, after, upto) == (window[-1] if window else None)

    if data.draw(st.booleans(), label="append_if"):
        event = data.draw(st.tuples(TYPES, DOCUMENTS), label="decided")
        stale = data.draw(st.sampled_from([None, 1, -1]), label="stale")
        stale = len(log) + 1 if stale == -1 else stale
        if stale != version:
            with pytest.raises(ConditionalAppendConflict) as conflict:
                store.append_if([NewEvent(*event)], EventQuery(filters=chosen), stale)
            assert conflict.value.actual == version
        committed = store.append_if([NewEvent(*event)], EventQuery(filters=chosen), version)
        assert committed.first_sequence_number == len(log) + 1
        log.append(event)


def newest_above(store: PostgresStore, filters: Filters, above: int, upto: int = 2**63 - 1) -> int | None:
    """What ``append_if`` checks under the lock: the newest match above the number its first check saw (and, for a
    bounded query, at or below ``upto``)."""
    call = sql.SQL("SELECT {}.context_version(%s::jsonb, %s, %s)").format(sql.Identifier(store.schema))
    with store._pool.connection() as conn:
        row = conn.execute(call, [context_spec(filters), above, upto]).fetchone()
    assert row is not None
    return None if row[0] is None else int(row[0])


_QUICK = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_THOROUGH = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_QUICK
@given(data=st.data())
def test_sql_matching_agrees_with_the_reference_matcher(
    shared_store: tuple[PostgresStore, list[tuple[str, JSON]]], data: st.DataObject
) -> None:
    check_one_example(shared_store, data)


@pytest.mark.long
@_THOROUGH
@given(data=st.data())
def test_sql_matching_agrees_with_the_reference_matcher_thoroughly(
    shared_store: tuple[PostgresStore, list[tuple[str, JSON]]], data: st.DataObject
) -> None:
    check_one_example(shared_store, data)


def test_top_level_scalar_in_array_does_not_leak(store: PostgresStore, admin: psycopg.Connection[Any]) -> None:
    """PostgreSQL's own ``["a","b"] @> "a"`` is true; through the store a scalar never matches an array."""
    assert admin.execute("""SELECT '["a", "b"]'::jsonb @> '"a"'::jsonb""").fetchone() == (True,)
    store.append([NewEvent("t", ["a", "b"]), NewEvent("t", "a")])
    result = store.query(EventQuery(filters=[EventFilter(payload_predicates=["a"])]))
    assert [record.payload for record in result.event_records] == ["a"]
    assert result.current_context_version == 2


def test_large_floats_compare_exactly_as_in_python(store: PostgresStore) -> None:
    """2.0**60 equals the int 2**60, and 1.152921504606847e18 (its shortest text) is another number."""
    store.append([NewEvent("t", {"n": 2.0**60}), NewEvent("t", {"n": 1152921504606847000})])
    found = store.query(EventQuery(filters=[EventFilter(payload_predicates=[{"n": 2**60}])]))
    assert [record.sequence_number for record in found.event_records] == [1]
    assert type(found.event_records[0].payload["n"]) is float
