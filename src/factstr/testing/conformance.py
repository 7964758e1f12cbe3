"""The conformance suite: one test per behaviour of CONTRACT.md, run against every store.

Each test takes the ``store`` fixture (a store on a fresh, empty database) or the ``backend`` fixture (to open
more handles on the same database). Test names say the behaviour they protect; the docstring names the clause.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from .._errors import (
    ConditionalAppendConflict,
    DurableStreamActive,
    DurableStreamMismatch,
    EmptyAppend,
    EventStoreError,
    InvalidInput,
    StoreClosed,
    UnknownDurableStream,
)
from .._model import JSON, DurableStream, EventFilter, EventQuery, EventRecord, NewEvent
from .._store import EventStore
from .._streams import EventStream
from ._backends import Backend
from ._helpers import Recorder, event, numbers, query

__all__ = [name for name in dir() if name.startswith("test_")]  # replaced at the end of the module


def _seed(store: EventStore) -> None:
    """Five events in three batches: [1, 2], [3], [4, 5]."""
    store.append([event("opened", {"account": "a", "amount": 1}), event("opened", {"account": "b"})])
    store.append([event("deposited", {"account": "a", "amount": 5})])
    store.append([event("deposited", {"account": "b", "amount": 7}), event("closed", {"account": "a"})])


def _matching_numbers(store: EventStore, q: EventQuery) -> list[int]:
    return numbers(store.query(q).event_records)


# --- C1 values --------------------------------------------------------------------------------------------


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


# --- C2 matching ------------------------------------------------------------------------------------------


def test_no_filters_and_empty_filters_match_every_event(store: EventStore) -> None:
    """C2: filters None or [] match every event."""
    _seed(store)
    assert _matching_numbers(store, EventQuery(filters=None)) == [1, 2, 3, 4, 5]
    assert _matching_numbers(store, EventQuery(filters=[])) == [1, 2, 3, 4, 5]


def test_filters_are_alternatives(store: EventStore) -> None:
    """C2: an event matches when any filter matches."""
    _seed(store)
    q = EventQuery(filters=[EventFilter(event_types=["closed"]), EventFilter(payload_predicates=[{"amount": 7}])])
    assert _matching_numbers(store, q) == [4, 5]


def test_type_and_payload_parts_must_both_match(store: EventStore) -> None:
    """C2: a filter needs its type part AND its payload part."""
    _seed(store)
    assert _matching_numbers(store, query(types=["deposited"], predicates=[{"account": "a"}])) == [3]


def test_event_types_match_exactly_and_case_sensitively(store: EventStore) -> None:
    """C2: the type equals one entry exactly."""
    store.append([event("Opened"), event("opened"), event("opened-later")])
    assert _matching_numbers(store, query(types=["opened"])) == [2]
    assert _matching_numbers(store, query(types=["Opened", "opened-later"])) == [1, 3]


def test_empty_event_types_match_nothing(store: EventStore) -> None:
    """C2: event_types [] matches nothing."""
    _seed(store)
    assert _matching_numbers(store, query(types=[])) == []
    assert store.query(query(types=[])).current_context_version is None


def test_empty_payload_predicates_match_nothing(store: EventStore) -> None:
    """C2: payload_predicates [] matches nothing."""
    _seed(store)
    assert _matching_numbers(store, query(types=["opened"], predicates=[])) == []


def test_payload_predicates_are_alternatives(store: EventStore) -> None:
    """C2: a payload part matches when any predicate is a subset of the payload."""
    _seed(store)
    assert _matching_numbers(store, query(predicates=[{"amount": 5}, {"amount": 7}])) == [3, 4]


def test_object_predicate_allows_extra_keys(store: EventStore) -> None:
    """C2: every key of the predicate must be in the value; extra keys are fine."""
    store.append([event("e", {"a": 1, "b": 2}), event("e", {"a": 1}), event("e", {"b": 2})])
    assert _matching_numbers(store, query(predicates=[{"a": 1, "b": 2}])) == [1]
    assert _matching_numbers(store, query(predicates=[{"a": 1}])) == [1, 2]


def test_nested_object_predicate_matches_recursively(store: EventStore) -> None:
    """C2: subset is recursive into objects."""
    store.append([event("e", {"room": {"id": 7, "floor": 2}}), event("e", {"room": {"id": 8}})])
    assert _matching_numbers(store, query(predicates=[{"room": {"id": 7}}])) == [1]


def test_empty_object_predicate_matches_only_objects(store: EventStore) -> None:
    """C2: {} matches any object and nothing else."""
    store.append([event("e", {}), event("e", {"a": 1}), NewEvent("e", []), NewEvent("e", 3), NewEvent("e", None)])
    assert _matching_numbers(store, query(predicates=[{}])) == [1, 2]
    store.append([event("e", {"a": {"b": 1}}), event("e", {"a": [1]}), event("e", {"a": 1})])
    assert _matching_numbers(store, query(predicates=[{"a": {}}])) == [6]


def test_empty_array_predicate_matches_any_array(store: EventStore) -> None:
    """C2: [] inside a predicate matches any array, and only arrays."""
    store.append([event("e", {"t": []}), event("e", {"t": [1, 2]}), event("e", {"t": {}}), event("e", {"t": 1})])
    assert _matching_numbers(store, query(predicates=[{"t": []}])) == [1, 2]


def test_array_predicate_ignores_order_and_duplicates(store: EventStore) -> None:
    """C2: every predicate element must be a subset of some value element."""
    store.append([event("e", {"tags": ["a", "b", "c"]}), event("e", {"tags": ["a"]})])
    assert _matching_numbers(store, query(predicates=[{"tags": ["c", "a", "a"]}])) == [1]
    assert _matching_numbers(store, query(predicates=[{"tags": ["a"]}])) == [1, 2]


def test_nested_arrays_of_objects_match_element_wise(store: EventStore) -> None:
    """C2: array elements that are objects match by subset, each against some element."""
    store.append(
        [
            event("e", {"lines": [{"sku": "x", "qty": 1}, {"sku": "y", "qty": 2}]}),
            event("e", {"lines": [{"sku": "x", "qty": 2}]}),
        ]
    )
    assert _matching_numbers(store, query(predicates=[{"lines": [{"sku": "x", "qty": 1}]}])) == [1]
    assert _matching_numbers(store, query(predicates=[{"lines": [{"sku": "x"}, {"qty": 2}]}])) == [1, 2]
    assert _matching_numbers(store, query(predicates=[{"lines": [{"sku": "y", "qty": 1}]}])) == []


def test_integer_predicate_matches_equal_float(store: EventStore) -> None:
    """C2: numbers compare by numeric value: 1 matches 1.0 and 1.0 matches 1."""
    store.append([event("e", {"n": 1.0}), event("e", {"n": 1}), event("e", {"n": 1.5})])
    assert _matching_numbers(store, query(predicates=[{"n": 1}])) == [1, 2]
    assert _matching_numbers(store, query(predicates=[{"n": 1.0}])) == [1, 2]
    assert _matching_numbers(store, query(predicates=[{"n": 1.5}])) == [3]


def test_booleans_never_match_numbers(store: EventStore) -> None:
    """C2: true never matches 1 and false never matches 0, either way round."""
    store.append([event("e", {"v": True}), event("e", {"v": 1}), event("e", {"v": False}), event("e", {"v": 0})])
    assert _matching_numbers(store, query(predicates=[{"v": True}])) == [1]
    assert _matching_numbers(store, query(predicates=[{"v": 1}])) == [2]
    assert _matching_numbers(store, query(predicates=[{"v": False}])) == [3]
    assert _matching_numbers(store, query(predicates=[{"v": 0}])) == [4]


def test_null_matches_only_null(store: EventStore) -> None:
    """C2: null matches only null (a missing key is not null)."""
    store.append([event("e", {"v": None}), event("e", {"v": 0}), event("e", {"v": ""}), event("e", {})])
    assert _matching_numbers(store, query(predicates=[{"v": None}])) == [1]


def test_strings_do_not_match_numbers(store: EventStore) -> None:
    """C2: scalars match only when of the same JSON kind."""
    store.append([event("e", {"v": "1"}), event("e", {"v": 1})])
    assert _matching_numbers(store, query(predicates=[{"v": "1"}])) == [1]


def test_scalar_predicate_never_matches_an_array(store: EventStore) -> None:
    """C2: a scalar predicate never matches an array value, at the top level or nested."""
    store.append([NewEvent("e", ["a", "b"]), NewEvent("e", "a"), event("e", {"t": ["a"]}), event("e", {"t": "a"})])
    assert _matching_numbers(store, query(predicates=["a"])) == [2]
    assert _matching_numbers(store, query(predicates=[{"t": "a"}])) == [4]


def test_array_predicate_never_matches_a_scalar_or_object(store: EventStore) -> None:
    """C2: other pairs of kinds never match."""
    store.append([event("e", {"t": "a"}), event("e", {"t": {"0": "a"}}), event("e", {"t": ["a"]})])
    assert _matching_numbers(store, query(predicates=[{"t": ["a"]}])) == [3]


def test_top_level_scalar_predicates_match_equal_scalar_payloads(store: EventStore) -> None:
    """C2: a scalar payload matches an equal scalar predicate of the same kind."""
    store.append([NewEvent("e", 3), NewEvent("e", 3.0), NewEvent("e", "3"), NewEvent("e", True), NewEvent("e", None)])
    assert _matching_numbers(store, query(predicates=[3])) == [1, 2]
    assert _matching_numbers(store, query(predicates=[None])) == [5]
    assert _matching_numbers(store, query(predicates=[True])) == [4]


def test_hostile_strings_are_matched_as_plain_values(store: EventStore) -> None:
    """C7: quotes, SQL and JSON path syntax in types, keys and values are plain data."""
    hostile = "'); drop table events; --"
    payload = {hostile: hostile, '"key"': "$.a[*] ? (@ == 1)", "back\\slash": "%_"}
    store.append([NewEvent(hostile, payload), NewEvent("other", {"x": "%"})])
    records = store.query(query(types=[hostile], predicates=[{hostile: hostile}])).event_records
    assert [(r.event_type, r.payload) for r in records] == [(hostile, payload)]
    assert _matching_numbers(store, query(predicates=[{"back\\slash": "%_"}])) == [1]
    assert _matching_numbers(store, query(predicates=[{"x": "_"}])) == []


def test_unicode_and_large_numbers_round_trip_and_match(store: EventStore) -> None:
    """C1, C2: non-ASCII text and 64-bit integers are kept and matched exactly."""
    big = 2**63 - 1
    store.append([event("e", {"name": "Zoë 🚀", "n": big, "m": -(2**63), "f": 1e300})])
    record = store.query(EventQuery()).event_records[0]
    assert record.payload == {"name": "Zoë 🚀", "n": big, "m": -(2**63), "f": 1e300}
    assert _matching_numbers(store, query(predicates=[{"n": big}])) == [1]
    assert _matching_numbers(store, query(predicates=[{"n": big - 1}])) == []
    assert _matching_numbers(store, query(predicates=[{"name": "Zoë 🚀"}])) == [1]


# --- C3 query ---------------------------------------------------------------------------------------------


def test_query_returns_matching_events_in_ascending_order(store: EventStore) -> None:
    """C3: matching events in ascending sequence order."""
    _seed(store)
    result = store.query(query(predicates=[{"account": "a"}]))
    assert numbers(result.event_records) == [1, 3, 5]
    assert (result.last_returned_sequence_number, result.current_context_version) == (5, 5)


def test_min_sequence_number_is_exclusive(store: EventStore) -> None:
    """C3: only events after min_sequence_number are returned."""
    _seed(store)
    assert _matching_numbers(store, query(min_sequence_number=3)) == [4, 5]
    assert _matching_numbers(store, query(min_sequence_number=5)) == []


def test_min_sequence_number_none_and_zero_read_from_the_start(store: EventStore) -> None:
    """C3: None and 0 read from the start."""
    _seed(store)
    assert _matching_numbers(store, query(min_sequence_number=0)) == [1, 2, 3, 4, 5]
    assert _matching_numbers(store, query(min_sequence_number=None)) == [1, 2, 3, 4, 5]


def test_current_context_version_ignores_min_sequence_number(store: EventStore) -> None:
    """C3: current_context_version is the highest match in the whole log."""
    _seed(store)
    result = store.query(query(predicates=[{"account": "b"}], min_sequence_number=4))
    assert result.event_records == []
    assert result.last_returned_sequence_number is None
    assert result.current_context_version == 4


def test_context_version_is_the_last_match_not_the_head(store: EventStore) -> None:
    """C3: the version is the highest matching number, not the log's head."""
    _seed(store)
    result = store.query(query(types=["opened"]))
    assert (result.last_returned_sequence_number, result.current_context_version) == (2, 2)
    assert store.head() == 5


def test_query_without_match_returns_no_numbers(store: EventStore) -> None:
    """C3: both numbers are None when nothing matches."""
    _seed(store)
    result = store.query(query(types=["missing"]))
    assert (result.event_records, result.last_returned_sequence_number, result.current_context_version) == (
        [],
        None,
        None,
    )


def test_query_on_an_empty_log(store: EventStore) -> None:
    """C3, C8: an empty log returns nothing and head is None."""
    result = store.query(EventQuery())
    assert (result.event_records, result.last_returned_sequence_number, result.current_context_version) == (
        [],
        None,
        None,
    )
    assert store.head() is None


def test_query_is_one_snapshot_under_concurrent_appends(store: EventStore) -> None:
    """C3: records and both numbers come from one snapshot; last_returned <= current_context_version."""
    done = threading.Event()

    def writer() -> None:
        for _ in range(150):
            store.append([event("tick", {"k": 1}), event("tock", {"k": 1})])
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while not done.is_set():
            result = store.query(query(predicates=[{"k": 1}]))
            seqs = numbers(result.event_records)
            assert seqs == list(range(1, len(seqs) + 1)), "a reader saw a gap"
            assert len(seqs) % 2 == 0, "a reader saw half a batch"
            if seqs:
                assert result.last_returned_sequence_number == result.current_context_version == seqs[-1]
            limited = store.query(query(predicates=[{"k": 1}], min_sequence_number=1, limit=1))
            if limited.last_returned_sequence_number is not None:
                assert limited.current_context_version is not None
                assert limited.last_returned_sequence_number <= limited.current_context_version
    finally:
        thread.join()


# --- C4 append --------------------------------------------------------------------------------------------


def test_sequence_numbers_start_at_one_and_are_consecutive(store: EventStore) -> None:
    """C4: numbers are global, start at 1, one consecutive range per batch."""
    first = store.append([event("a"), event("b")])
    second = store.append([event("c")])
    assert (first.first_sequence_number, first.last_sequence_number) == (1, 2)
    assert (second.first_sequence_number, second.last_sequence_number) == (3, 3)
    assert _matching_numbers(store, EventQuery()) == [1, 2, 3]
    assert store.head() == 3


def test_empty_append_raises_empty_append(store: EventStore) -> None:
    """C4: an empty list raises EmptyAppend and commits nothing."""
    with pytest.raises(EmptyAppend):
        store.append([])
    assert store.head() is None


def test_empty_append_if_raises_empty_append_before_anything_else(store: EventStore) -> None:
    """C4: EmptyAppend comes before any other check, also in append_if."""
    with pytest.raises(EmptyAppend):
        store.append_if([], {"not": "a query"}, -1)  # type: ignore[arg-type]


def test_invalid_event_in_a_batch_commits_nothing(store: EventStore) -> None:
    """C4, C7: one bad event fails the whole batch, and no number is consumed."""
    store.append([event("a")])
    with pytest.raises(InvalidInput):
        store.append([event("b"), NewEvent("", {}), event("c")])
    assert store.append([event("d")]).first_sequence_number == 2
    assert [r.event_type for r in store.query(EventQuery()).event_records] == ["a", "d"]


def test_concurrent_appends_are_gapless_and_atomic(store: EventStore) -> None:
    """C4, C8: appends from many threads give gapless numbers and whole batches."""
    results = []
    lock = threading.Lock()

    def writer(worker: int) -> None:
        for round_ in range(10):
            result = store.append([event("w", {"worker": worker, "round": round_, "i": i}) for i in range(3)])
            with lock:
                results.append(result)

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = store.query(EventQuery()).event_records
    assert numbers(records) == list(range(1, 241))
    for result in results:
        batch = records[result.first_sequence_number - 1 : result.last_sequence_number]
        assert len({(r.payload["worker"], r.payload["round"]) for r in batch}) == 1
        assert [r.payload["i"] for r in batch] == [0, 1, 2]


def test_appends_through_two_handles_share_one_sequence(backend: Backend) -> None:
    """C4: numbers are global across every handle on the same database."""
    if not backend.shares_database:
        pytest.skip("this store has no second handle on the same database")
    first, second = backend.open(), backend.open()
    first.append([event("a")])
    assert second.append([event("b")]).first_sequence_number == 2
    assert numbers(first.query(EventQuery()).event_records) == [1, 2]


# --- C5 conditional append ----------------------------------------------------------------------------------


def test_append_if_commits_when_the_context_is_unchanged(store: EventStore) -> None:
    """C5: append_if commits when the current version equals the expected one."""
    _seed(store)
    context = query(predicates=[{"account": "a"}])
    version = store.query(context).current_context_version
    result = store.append_if([event("withdrawn", {"account": "a", "amount": 1})], context, version)
    assert result.first_sequence_number == 6


def test_append_if_with_none_expects_no_matching_event(store: EventStore) -> None:
    """C5: expected None means no event matches the context."""
    context = query(types=["account-opened"], predicates=[{"account": "x"}])
    store.append_if([event("account-opened", {"account": "x"})], context, None)
    with pytest.raises(ConditionalAppendConflict) as raised:
        store.append_if([event("account-opened", {"account": "x"})], context, None)
    assert (raised.value.expected, raised.value.actual) == (None, 1)


def test_append_if_conflict_reports_expected_and_actual(store: EventStore) -> None:
    """C5: a stale version raises ConditionalAppendConflict with both versions."""
    _seed(store)
    context = query(predicates=[{"account": "a"}])
    with pytest.raises(ConditionalAppendConflict) as raised:
        store.append_if([event("x")], context, 3)
    assert (raised.value.expected, raised.value.actual) == (3, 5)
    assert isinstance(raised.value, EventStoreError)


def test_failed_append_if_consumes_no_sequence_number(store: EventStore) -> None:
    """C5: a conflict commits nothing and consumes no number."""
    _seed(store)
    with pytest.raises(ConditionalAppendConflict):
        store.append_if([event("x"), event("y")], query(types=["opened"]), 1)
    assert store.head() == 5
    assert store.append([event("z")]).first_sequence_number == 6
    assert _matching_numbers(store, EventQuery()) == [1, 2, 3, 4, 5, 6]


def test_append_if_ignores_min_sequence_number_and_limit_of_its_context(store: EventStore) -> None:
    """C5: the context version ignores min_sequence_number (and limit)."""
    _seed(store)
    context = query(predicates=[{"account": "a"}], min_sequence_number=100, limit=1)
    with pytest.raises(ConditionalAppendConflict) as raised:
        store.append_if([event("x")], context, None)
    assert raised.value.actual == 5
    store.append_if([event("x")], context, 5)


def test_append_if_context_of_other_facts_does_not_conflict(store: EventStore) -> None:
    """C5: facts outside the context do not change its version."""
    context = query(types=["booked"], predicates=[{"room": 1}])
    store.append_if([event("booked", {"room": 1})], context, None)
    store.append([event("booked", {"room": 2}), event("cancelled", {"room": 1})])
    store.append_if([event("booked", {"room": 1})], context, 1)
    assert store.head() == 4


def test_conflicting_append_if_delivers_nothing(store: EventStore) -> None:
    """C5, C6: a conflicting append_if is never delivered to a stream."""
    recorder = Recorder()
    with store.stream_all(recorder):
        store.append([event("a")])
        with pytest.raises(ConditionalAppendConflict):
            store.append_if([event("rejected")], EventQuery(), None)
        store.append([event("b")])
        assert recorder.wait_for_number(2)
    assert recorder.batch_numbers == [[1], [2]]
    assert [batch[0].event_type for batch in recorder.batches] == ["a", "b"]


def test_exactly_one_of_racing_append_ifs_wins(store: EventStore) -> None:
    """C5: 8 threads race append_if on one context at the same version: exactly one commits."""
    store.append([event("seat-released", {"seat": "12A"})])
    context = query(predicates=[{"seat": "12A"}])
    version = store.query(context).current_context_version
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def contender(worker: int) -> None:
        barrier.wait()
        try:
            store.append_if([event("seat-taken", {"seat": "12A", "by": worker})], context, version)
            outcome = "won"
        except ConditionalAppendConflict as conflict:
            assert (conflict.expected, conflict.actual) == (version, 2)
            outcome = "lost"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=contender, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]
    assert store.head() == 2


def test_numbers_stay_gapless_under_racing_append_ifs(store: EventStore) -> None:
    """C4, C5: conflicts interleaved with commits leave no gap."""

    def contender(worker: int) -> None:
        context = query(types=["counter"])
        for _ in range(15):
            version = store.query(context).current_context_version
            with contextlib.suppress(ConditionalAppendConflict):
                store.append_if([event("counter", {"worker": worker})], context, version)
            store.append([event("noise", {"worker": worker})])

    threads = [threading.Thread(target=contender, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seqs = _matching_numbers(store, EventQuery())
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(_matching_numbers(store, query(types=["noise"]))) == 90


def test_append_if_is_atomic_across_handles(backend: Backend) -> None:
    """C5: the check and the write are atomic against writers using other handles on the database."""
    if not backend.shares_database:
        pytest.skip("this store has no second handle on the same database")
    stores = [backend.open() for _ in range(4)]
    context = query(types=["slot-reserved"], predicates=[{"slot": 1}])
    barrier = threading.Barrier(len(stores))
    wins: list[int] = []

    def contender(index: int) -> None:
        barrier.wait()
        try:
            stores[index].append_if([event("slot-reserved", {"slot": 1})], context, None)
            wins.append(index)
        except ConditionalAppendConflict:
            pass

    threads = [threading.Thread(target=contender, args=(index,)) for index in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert stores[0].head() == 1


# --- C6 streams -------------------------------------------------------------------------------------------


def test_live_stream_receives_only_batches_committed_after_registration(store: EventStore) -> None:
    """C6: a live stream replays nothing."""
    store.append([event("before")])
    recorder = Recorder()
    with store.stream_all(recorder):
        store.append([event("after")])
        assert recorder.wait_for_number(2)
    assert recorder.batch_numbers == [[2]]


def test_a_batch_is_delivered_whole_in_one_call(store: EventStore) -> None:
    """C6: one committed batch is one handler call holding exactly that batch, in order."""
    recorder = Recorder()
    with store.stream_all(recorder):
        store.append([event("a", {"i": i}) for i in range(50)])
        store.append([event("b")])
        assert recorder.wait_for_number(51)
    assert recorder.batch_numbers == [list(range(1, 51)), [51]]
    assert [r.payload["i"] for r in recorder.batches[0]] == list(range(50))


def test_filtered_stream_gets_only_the_matching_part_of_a_mixed_batch(store: EventStore) -> None:
    """C6: a batch is delivered as the matching events of that batch only."""
    recorder = Recorder()
    with store.stream_to(query(types=["wanted"]), recorder):
        store.append([event("wanted", {"i": 1}), event("other"), event("wanted", {"i": 2})])
        assert recorder.wait_for_number(3)
    assert recorder.batch_numbers == [[1, 3]]


def test_batch_without_matching_event_produces_no_call(store: EventStore) -> None:
    """C6: a batch with no matching event produces no call."""
    recorder = Recorder()
    with store.stream_to(query(types=["wanted"]), recorder) as stream:
        store.append([event("other")])
        store.append([event("wanted")])
        assert recorder.wait_for_number(2)
        assert stream.wait_until(2, timeout=10)
    assert recorder.calls == 1
    assert recorder.batch_numbers == [[2]]


def test_batches_arrive_in_commit_order(store: EventStore) -> None:
    """C6: delivery is in commit order."""
    recorder = Recorder()
    with store.stream_all(recorder):
        for i in range(30):
            store.append([event("e", {"i": i})])
        assert recorder.wait_for_number(30)
    assert recorder.numbers == list(range(1, 31))


def test_two_streams_each_get_their_own_copy(store: EventStore) -> None:
    """C6: several streams each receive every batch."""
    first, second = Recorder(), Recorder()
    with store.stream_all(first), store.stream_to(query(types=["a"]), second):
        store.append([event("a"), event("b")])
        store.append([event("a")])
        assert first.wait_for_number(3)
        assert second.wait_for_number(3)
    assert first.batch_numbers == [[1, 2], [3]]
    assert second.batch_numbers == [[1], [3]]


def test_failing_live_handler_is_reported_and_the_stream_goes_on(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    """C6, C6.3: a live handler that raises is logged and reported; the next batch is delivered."""
    reported: list[BaseException] = []
    recorder = Recorder(fail_when=lambda batch: batch[0].event_type == "poison")
    with (
        caplog.at_level(logging.WARNING, logger="factstr"),
        store.stream_all(recorder, on_error=reported.append) as stream,
    ):
        store.append([event("poison")])
        store.append([event("fine")])
        assert recorder.wait_for_number(2)
        assert isinstance(stream.failure, RuntimeError)
    assert recorder.batch_numbers == [[2]]
    assert len(reported) == 1 and reported[0] is stream.failure
    assert any(r.levelno >= logging.WARNING and r.name.startswith("factstr") for r in caplog.records)


def test_failing_handler_affects_neither_appends_nor_other_streams(store: EventStore) -> None:
    """C6: a failing handler delays or affects only its own stream."""
    healthy = Recorder()
    broken = Recorder(fail_when=lambda batch: True)
    with store.stream_all(broken), store.stream_all(healthy):
        for i in range(5):
            assert store.append([event("e", {"i": i})]).first_sequence_number == i + 1
        assert healthy.wait_for_number(5)
        assert broken.wait_for_calls(5)
    assert healthy.numbers == [1, 2, 3, 4, 5]


def test_slow_handler_delays_neither_appends_nor_other_streams(store: EventStore) -> None:
    """C6: a slow handler delays only its own stream."""
    release = threading.Event()

    def slow(batch: list[EventRecord]) -> None:
        release.wait(20)

    fast = Recorder()
    with store.stream_all(slow), store.stream_all(fast):
        for i in range(20):
            store.append([event("e", {"i": i})])
        assert fast.wait_for_number(20)
        release.set()


def test_unsubscribe_stops_delivery_and_is_idempotent(store: EventStore) -> None:
    """C6: after unsubscribe() returns the handler is not called again; calling it twice is fine."""
    stopped, witness = Recorder(), Recorder()
    stream = store.stream_all(stopped)
    with store.stream_all(witness):
        store.append([event("a")])
        assert stopped.wait_for_number(1)
        stream.unsubscribe()
        stream.unsubscribe()
        store.append([event("b")])
        assert witness.wait_for_number(2)
    assert stopped.numbers == [1]


def test_unsubscribe_from_inside_the_handler(store: EventStore) -> None:
    """C6: a handler may unsubscribe its own stream; it is not called again."""
    calls: list[int] = []
    holder: list[EventStream] = []
    registered = threading.Event()

    def handler(batch: list[EventRecord]) -> None:
        registered.wait(10)
        calls.append(batch[0].sequence_number)
        holder[0].unsubscribe()

    holder.append(store.stream_all(handler))
    registered.set()
    store.append([event("a")])
    assert holder[0].wait_until(1, timeout=10) or calls == [1]
    witness = Recorder()
    with store.stream_all(witness):
        store.append([event("b")])
        assert witness.wait_for_number(2)
    assert calls == [1]
    assert holder[0].running is False


def test_stream_context_manager_unsubscribes(store: EventStore) -> None:
    """C6: an EventStream is a context manager."""
    recorder, witness = Recorder(), Recorder()
    with store.stream_all(witness):
        with store.stream_all(recorder):
            store.append([event("a")])
            assert recorder.wait_for_number(1)
        store.append([event("b")])
        assert witness.wait_for_number(2)
    assert recorder.numbers == [1]


def test_close_stops_streams_and_later_calls_raise_store_closed(backend: Backend) -> None:
    """C6, C8: close() stops every stream; the store then raises StoreClosed."""
    store = backend.open()
    recorder = Recorder()
    store.stream_all(recorder)
    store.append([event("a")])
    assert recorder.wait_for_number(1)
    store.close()
    store.close()
    with pytest.raises(StoreClosed):
        store.append([event("b")])
    with pytest.raises(StoreClosed):
        store.query(EventQuery())
    with pytest.raises(StoreClosed):
        store.stream_all(recorder)
    assert recorder.numbers == [1]


def test_stream_ignores_min_sequence_number(store: EventStore) -> None:
    """C6: min_sequence_number in a stream's query is ignored."""
    recorder = Recorder()
    with store.stream_to(query(types=["a"], min_sequence_number=1000), recorder):
        store.append([event("a")])
        assert recorder.wait_for_number(1)


def test_commits_through_another_handle_reach_live_streams(backend: Backend) -> None:
    """C6: commits made through another handle (as by another process) reach live streams."""
    if not backend.shares_database:
        pytest.skip("this store has no second handle on the same database")
    reader, writer = backend.open(), backend.open()
    recorder = Recorder()
    with reader.stream_to(query(types=["a"]), recorder):
        writer.append([event("a"), event("b"), event("a")])
        assert recorder.wait_for_number(3)
    assert recorder.batch_numbers == [[1, 3]]


def test_wait_until_reports_progress(store: EventStore) -> None:
    """C6.4: wait_until(n) is True once everything up to n is handled, False on timeout."""
    recorder = Recorder()
    with store.stream_to(query(types=["a"]), recorder) as stream:
        result = store.append([event("b"), event("a")])
        assert stream.wait_until(result.last_sequence_number, timeout=10)
        assert recorder.numbers == [2]
        assert stream.position is not None and stream.position >= 2
        assert stream.wait_until(99, timeout=0.05) is False


# --- C6.1 durable streams ---------------------------------------------------------------------------------


def test_durable_stream_replays_history_keeping_batch_boundaries(store: EventStore) -> None:
    """C6.1: a new durable stream replays from the beginning, batch by batch."""
    _seed(store)
    recorder = Recorder()
    with store.stream_all_durable("replayer", recorder) as stream:
        assert stream.wait_until(5, timeout=10)
    assert recorder.batch_numbers == [[1, 2], [3], [4, 5]]


def test_durable_filtered_replay_keeps_batches(store: EventStore) -> None:
    """C6.1: replayed matching events stay grouped by their committed batch."""
    _seed(store)
    recorder = Recorder()
    with store.stream_to_durable("accounts-a", query(predicates=[{"account": "a"}]), recorder) as stream:
        assert stream.wait_until(5, timeout=10)
    assert recorder.batch_numbers == [[1], [3], [5]]


def test_large_batch_is_replayed_whole(store: EventStore) -> None:
    """C6.1: a batch bigger than any read chunk is still one call."""
    store.append([event("bulk", {"i": i}) for i in range(2500)])
    store.append([event("after")])
    recorder = Recorder()
    with store.stream_all_durable("bulk", recorder) as stream:
        assert stream.wait_until(2501, timeout=30)
    assert [len(batch) for batch in recorder.batches] == [2500, 1]


def test_durable_replay_continues_live_with_no_gap_or_duplicate(store: EventStore) -> None:
    """C6.1: replay then live, with appends racing the registration, delivers each event once."""
    store.append([event("e", {"i": i}) for i in range(3)])
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            store.append([event("e"), event("e")])

    thread = threading.Thread(target=writer)
    thread.start()
    recorder = Recorder()
    try:
        time.sleep(0.02)
        stream = store.stream_all_durable("seam", recorder)
        time.sleep(0.1)
    finally:
        stop.set()
        thread.join()
    head = store.head()
    assert head is not None
    assert stream.wait_until(head, timeout=20)
    stream.unsubscribe()
    assert recorder.numbers == list(range(1, head + 1))
    assert all(len(batch) == 2 for batch in recorder.batches[1:])


def test_durable_stream_resumes_after_its_cursor(store: EventStore) -> None:
    """C6.1: registering again replays only what came after the stored cursor."""
    _seed(store)
    first = Recorder()
    with store.stream_all_durable("resumer", first) as stream:
        assert stream.wait_until(5, timeout=10)
    store.append([event("later")])
    second = Recorder()
    with store.stream_all_durable(DurableStream("resumer"), second) as stream:
        assert stream.wait_until(6, timeout=10)
    assert second.batch_numbers == [[6]]


def test_cursor_is_stored_when_unsubscribe_returns(store: EventStore) -> None:
    """C6: after unsubscribe() every handled batch has its cursor stored (repeated: it used to race)."""
    _seed(store)
    for round_ in range(10):
        recorder = Recorder()
        stream = store.stream_to_durable("stored", query(types=["deposited"]), recorder)
        last = store.append([event("deposited", {"round": round_})]).last_sequence_number
        assert recorder.wait_for_number(last)
        stream.unsubscribe()
        info = store.durable_stream("stored")
        assert info is not None and info.cursor == last, f"round {round_}: cursor {info and info.cursor} != {last}"


def test_failing_durable_handler_stops_at_the_failed_batch(store: EventStore, caplog: pytest.LogCaptureFixture) -> None:
    """C6.1: the stream stops, the cursor stays at the last handled batch, the failure is reported."""
    _seed(store)
    reported: list[BaseException] = []
    recorder = Recorder(fail_when=lambda batch: batch[0].sequence_number == 3)
    with caplog.at_level(logging.WARNING, logger="factstr"):
        stream = store.stream_all_durable("fragile", recorder, on_error=reported.append)
        with pytest.raises(RuntimeError):
            stream.wait_until(5, timeout=10)
    assert recorder.batch_numbers == [[1, 2]]
    assert isinstance(stream.failure, RuntimeError) and reported == [stream.failure]
    info = store.durable_stream("fragile")
    assert info is not None and info.cursor == 2 and info.active is False
    assert any(r.levelno >= logging.WARNING for r in caplog.records)


def test_durable_stream_resumes_at_the_failed_batch(store: EventStore) -> None:
    """C6.1: registering again after a failure starts with the batch that failed."""
    _seed(store)
    failing = Recorder(fail_when=lambda batch: batch[0].sequence_number == 3)
    stream = store.stream_all_durable("retry", failing)
    with pytest.raises(RuntimeError):
        stream.wait_until(5, timeout=10)
    stream.unsubscribe()
    recovered = Recorder()
    with store.stream_all_durable("retry", recovered) as again:
        assert again.wait_until(5, timeout=10)
    assert recovered.batch_numbers == [[3], [4, 5]]


def test_new_durable_stream_can_start_at_the_end(store: EventStore) -> None:
    """C6.1: start="end" skips history."""
    _seed(store)
    recorder = Recorder()
    with store.stream_all_durable("tail", recorder, start="end") as stream:
        store.append([event("new")])
        assert stream.wait_until(6, timeout=10)
    assert recorder.batch_numbers == [[6]]


def test_new_durable_stream_can_start_after_a_number(store: EventStore) -> None:
    """C6.1: start=n handles what comes after n."""
    _seed(store)
    recorder = Recorder()
    with store.stream_all_durable("from-3", recorder, start=3) as stream:
        assert stream.wait_until(5, timeout=10)
    assert recorder.batch_numbers == [[4, 5]]


def test_start_is_ignored_when_a_cursor_is_stored(store: EventStore) -> None:
    """C6.4: start applies only to a name without a stored cursor (or with reset)."""
    _seed(store)
    with store.stream_all_durable("kept", Recorder()) as stream:
        assert stream.wait_until(5, timeout=10)
    store.append([event("x")])
    recorder = Recorder()
    with store.stream_all_durable("kept", recorder, start=0) as stream:
        assert stream.wait_until(6, timeout=10)
    assert recorder.numbers == [6]


def test_reset_restarts_from_start_and_replaces_the_query(store: EventStore) -> None:
    """C6.4: reset=True applies start and replaces a different query."""
    _seed(store)
    with store.stream_to_durable("r", query(types=["opened"]), Recorder()) as stream:
        assert stream.wait_until(5, timeout=10)
    recorder = Recorder()
    with store.stream_to_durable("r", query(types=["closed"]), recorder, reset=True) as stream:
        assert stream.wait_until(5, timeout=10)
    assert recorder.numbers == [5]


def test_durable_stream_with_another_query_raises_mismatch(store: EventStore) -> None:
    """C6.1: re-registering a name with a different query raises DurableStreamMismatch."""
    with store.stream_to_durable("m", query(types=["a"]), Recorder()):
        pass
    with pytest.raises(DurableStreamMismatch):
        store.stream_to_durable("m", query(types=["b"]), Recorder())
    with pytest.raises(DurableStreamMismatch):
        store.stream_all_durable("m", Recorder())
    store.stream_to_durable("m", query(types=["a"]), Recorder()).unsubscribe()


def test_durable_queries_are_compared_by_meaning(store: EventStore) -> None:
    """C6.1: the same query written differently is not a mismatch."""
    first = EventQuery(
        filters=[
            EventFilter(event_types=["b", "a"], payload_predicates=[{"n": 1.0, "k": ["y", "x"]}]),
            EventFilter(event_types=["c"]),
        ]
    )
    second = EventQuery(
        filters=[
            EventFilter(event_types=["c", "c"]),
            EventFilter(event_types=["a", "b"], payload_predicates=[{"k": ["x", "y", "x"], "n": 1}]),
        ],
        min_sequence_number=7,
    )
    with store.stream_to_durable("meaning", first, Recorder()):
        pass
    store.stream_to_durable("meaning", second, Recorder()).unsubscribe()
    with store.stream_to_durable("everything", EventQuery(filters=None), Recorder()):
        pass
    store.stream_to_durable("everything", EventQuery(filters=[]), Recorder()).unsubscribe()
    store.stream_all_durable("everything", Recorder()).unsubscribe()


def test_second_holder_of_a_durable_name_raises_active(store: EventStore) -> None:
    """C6.1: one name is active in one place at a time."""
    with store.stream_all_durable("single", Recorder()):
        with pytest.raises(DurableStreamActive):
            store.stream_all_durable("single", Recorder())
        info = store.durable_stream("single")
        assert info is not None and info.active
    with store.stream_all_durable("single", Recorder()):
        pass
    info = store.durable_stream("single")
    assert info is not None and not info.active


def test_durable_name_is_held_across_handles(backend: Backend) -> None:
    """C6.1: the hold excludes other handles (other processes) on the same database."""
    if not backend.shares_database:
        pytest.skip("this store has no second handle on the same database")
    first, second = backend.open(), backend.open()
    stream = first.stream_all_durable("shared", Recorder())
    with pytest.raises(DurableStreamActive):
        second.stream_all_durable("shared", Recorder())
    info = second.durable_stream("shared")
    assert info is not None and info.active
    first.close()
    assert stream.running is False
    second.stream_all_durable("shared", Recorder()).unsubscribe()


def test_durable_cursor_survives_reopening(backend: Backend) -> None:
    """C6.1: SQLite and PostgreSQL cursors survive a restart."""
    if not backend.persistent:
        pytest.skip("memory-store cursors live as long as the store object")
    store = backend.open()
    _seed(store)
    with store.stream_all_durable("survivor", Recorder()) as stream:
        assert stream.wait_until(5, timeout=10)
    store.close()
    reopened = backend.open()
    reopened.append([event("after-restart")])
    recorder = Recorder()
    with reopened.stream_all_durable("survivor", recorder) as stream:
        assert stream.wait_until(6, timeout=10)
    assert recorder.numbers == [6]


def test_durable_streams_are_listed_and_inspected_with_lag(store: EventStore) -> None:
    """C6.1, C6.4: cursors can be listed and inspected (name, query, cursor, head, lag, active)."""
    _seed(store)
    with store.stream_to_durable("b-deposits", query(types=["deposited"]), Recorder()) as stream:
        assert stream.wait_until(5, timeout=10)
    store.stream_all_durable("a-new", Recorder()).unsubscribe()
    store.reset_durable_stream("a-new", 2)
    infos = store.durable_streams()
    assert [info.name for info in infos] == ["a-new", "b-deposits"]
    a_new, deposits = infos
    assert (a_new.cursor, a_new.head, a_new.lag, a_new.active) == (2, 5, 3, False)
    assert (deposits.cursor, deposits.head, deposits.lag) == (5, 5, 0)
    assert deposits.query == EventQuery(filters=[EventFilter(event_types=["deposited"])])
    assert store.durable_stream("missing") is None


def test_unhandled_durable_stream_has_no_cursor(store: EventStore) -> None:
    """C6.4: cursor is None while nothing was handled, and lag counts it as 0."""
    _seed(store)
    failing = Recorder(fail_when=lambda batch: True)
    stream = store.stream_all_durable("none-yet", failing)
    assert failing.wait_for_calls(1)
    stream.unsubscribe()
    info = store.durable_stream("none-yet")
    assert info is not None and (info.cursor, info.lag) == (None, 5)


def test_reset_durable_stream_moves_the_cursor(store: EventStore) -> None:
    """C6.4: reset_durable_stream(name, n): the next registration resumes after n."""
    _seed(store)
    with store.stream_all_durable("rewind", Recorder()) as stream:
        assert stream.wait_until(5, timeout=10)
    store.reset_durable_stream("rewind", 2)
    recorder = Recorder()
    with store.stream_all_durable("rewind", recorder) as stream:
        assert stream.wait_until(5, timeout=10)
    assert recorder.batch_numbers == [[3], [4, 5]]
    with pytest.raises(UnknownDurableStream):
        store.reset_durable_stream("never-registered", 1)


def test_cursor_admin_refuses_an_active_name(store: EventStore) -> None:
    """C6.4: reset and delete raise DurableStreamActive while the name is held."""
    with store.stream_all_durable("busy", Recorder()):
        with pytest.raises(DurableStreamActive):
            store.reset_durable_stream("busy", 0)
        with pytest.raises(DurableStreamActive):
            store.delete_durable_stream("busy")


def test_delete_durable_stream_forgets_the_cursor(store: EventStore) -> None:
    """C6.4: a deleted name starts afresh (from the beginning) when registered again."""
    _seed(store)
    with store.stream_all_durable("gone", Recorder()) as stream:
        assert stream.wait_until(5, timeout=10)
    store.delete_durable_stream("gone")
    store.delete_durable_stream("gone")
    assert store.durable_stream("gone") is None
    recorder = Recorder()
    with store.stream_to_durable("gone", query(types=["closed"]), recorder) as stream:
        assert stream.wait_until(5, timeout=10)
    assert recorder.numbers == [5]


def test_durable_commits_through_another_handle_are_delivered(backend: Backend) -> None:
    """C6: commits through another handle reach durable streams too."""
    if not backend.shares_database:
        pytest.skip("this store has no second handle on the same database")
    reader, writer = backend.open(), backend.open()
    recorder = Recorder()
    with reader.stream_all_durable("cross", recorder):
        writer.append([event("a")])
        writer.append([event("b"), event("c")])
        assert recorder.wait_for_number(3)
    assert recorder.batch_numbers == [[1], [2, 3]]


# --- C7 errors and bad input --------------------------------------------------------------------------------


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


# --- C8 extensions ----------------------------------------------------------------------------------------


def test_limit_caps_records_but_not_the_context_version(store: EventStore) -> None:
    """C8: limit caps the records; current_context_version is unchanged."""
    _seed(store)
    result = store.query(query(limit=2))
    assert numbers(result.event_records) == [1, 2]
    assert (result.last_returned_sequence_number, result.current_context_version) == (2, 5)
    empty = store.query(query(limit=0))
    assert (empty.event_records, empty.last_returned_sequence_number, empty.current_context_version) == (
        [],
        None,
        5,
    )


def test_backwards_returns_newest_first(store: EventStore) -> None:
    """C8: backwards returns newest first; last_returned is the last in returned order."""
    _seed(store)
    result = store.query(query(predicates=[{"account": "a"}], backwards=True))
    assert numbers(result.event_records) == [5, 3, 1]
    assert (result.last_returned_sequence_number, result.current_context_version) == (1, 5)


def test_backwards_with_limit_and_min_sequence_number(store: EventStore) -> None:
    """C8: backwards with limit reads the newest; min_sequence_number still bounds from below."""
    _seed(store)
    result = store.query(query(backwards=True, limit=2, min_sequence_number=1))
    assert numbers(result.event_records) == [5, 4]
    assert (result.last_returned_sequence_number, result.current_context_version) == (4, 5)
    bounded = store.query(query(backwards=True, min_sequence_number=3))
    assert numbers(bounded.event_records) == [5, 4]


def test_limit_with_min_sequence_number_pages_through_the_log(store: EventStore) -> None:
    """C8: pages of a limited query, continued from last_returned, read the whole log once."""
    store.append([event("e", {"i": i}) for i in range(23)])
    seen: list[int] = []
    after = 0
    while True:
        page = store.query(query(min_sequence_number=after, limit=5))
        if not page.event_records:
            break
        seen.extend(numbers(page.event_records))
        assert page.last_returned_sequence_number is not None
        after = page.last_returned_sequence_number
    assert seen == list(range(1, 24))


def test_head_is_the_highest_committed_number(store: EventStore) -> None:
    """C8: head() returns the highest committed sequence number, or None."""
    assert store.head() is None
    _seed(store)
    assert store.head() == 5


def _local_only(backend: Backend) -> None:
    if backend.name == "http":
        pytest.skip("import_batch works on a store opened directly, not over HTTP")


def test_import_batch_keeps_numbers_boundaries_and_occurred_at(backend: Backend) -> None:
    """C8: an exported batch imported into another store keeps its numbers, its batch and its commit time."""
    _local_only(backend)
    store = backend.open()
    first_time = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    later = datetime(2024, 5, 6, 9, 8, 9, 654321, tzinfo=timezone(timedelta(hours=2)))  # 07:08:09 UTC
    store.import_batch([EventRecord(1, first_time, "a", {"x": 1}), EventRecord(2, first_time, "b", None)])
    result = store.import_batch([EventRecord(3, later, "c", [1])])
    assert (result.first_sequence_number, result.last_sequence_number) == (3, 3)
    records = store.query(EventQuery()).event_records
    assert [(r.sequence_number, r.occurred_at, r.event_type, r.payload) for r in records] == [
        (1, first_time, "a", {"x": 1}),
        (2, first_time, "b", None),
        (3, later, "c", [1]),
    ]
    assert records[2].occurred_at.utcoffset() == timedelta(0)
    recorder = Recorder()
    with store.stream_all_durable("imported", recorder) as stream:
        assert stream.wait_until(3, timeout=10)
    assert recorder.batch_numbers == [[1, 2], [3]]
    assert store.append([event("after")]).first_sequence_number == 4


def test_import_batch_lands_right_after_the_head_or_not_at_all(backend: Backend) -> None:
    """C8: a batch that does not continue the log is refused with the head as actual; nothing is written."""
    _local_only(backend)
    store = backend.open()
    when = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(ConditionalAppendConflict) as raised:
        store.import_batch([EventRecord(5, when, "a", {})])
    assert (raised.value.expected, raised.value.actual) == (4, None)
    store.append([event("a")])
    with pytest.raises(ConditionalAppendConflict):
        store.import_batch([EventRecord(1, when, "a", {})])
    assert store.head() == 1


def test_bad_import_batch_raises_invalid_input(store: EventStore) -> None:
    """C7: an import batch must be consecutive records sharing one timezone-aware commit time."""
    when = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(EmptyAppend):
        store.import_batch([])
    bad_batches: list[object] = [
        [EventRecord(1, datetime(2024, 1, 1), "a", {})],
        [EventRecord(1, when, "a", {}), EventRecord(3, when, "a", {})],
        [EventRecord(1, when, "a", {}), EventRecord(2, when + timedelta(seconds=1), "a", {})],
        [EventRecord(0, when, "a", {})],
        [{"sequence_number": 1}],
        [EventRecord(1, when, "", {})],
        [EventRecord(1, when, "a", {"v": float("nan")})],
        EventRecord(1, when, "a", {}),
    ]
    for bad in bad_batches:
        with pytest.raises(InvalidInput):
            store.import_batch(bad)  # type: ignore[arg-type]
    assert store.head() is None


def test_store_is_a_context_manager(backend: Backend) -> None:
    """C8: every store is a context manager; leaving it closes the store."""
    with backend.open() as store:
        store.append([event("a")])
    with pytest.raises(StoreClosed):
        store.head()


__all__ = sorted(name for name in dict(globals()) if name.startswith("test_"))
