"""The three modes of a query model: continuous, on-demand and inline, on every store that keeps state."""

from __future__ import annotations

import threading
from typing import Any

import msgspec
import pytest

from factstr import DurableStreamActive, EventFilter, EventQuery, EventRecord, InvalidInput, NewEvent
from factstr.projections import (
    OnDemandQueryModel,
    QueryModel,
    QueryModelMismatch,
    build_inline,
    inspect,
    run_continuous,
)
from factstr.testing import Backend

from .models import COUNTED, INITIAL, add_up, counted, expected

WAIT = 15.0


def model(name: str = "totals") -> QueryModel[dict[str, Any]]:
    return QueryModel(name, COUNTED, INITIAL, add_up)


def test_continuous_model_folds_history_then_follows_live(backend: Backend) -> None:
    store = backend.open()
    store.append([counted(1), counted(2)])
    with run_continuous(store, model()) as running:
        result = store.append([counted(3)])
        assert running.wait_until(result.last_sequence_number, WAIT)
        assert running.state == expected(range(1, 4))
        assert running.position == 3


def test_continuous_model_ignores_facts_outside_its_query(backend: Backend) -> None:
    store = backend.open()
    with run_continuous(store, model()) as running:
        store.append([counted(5)])
        other = store.append([NewEvent("Other", {"n": 100})])
        assert running.wait_until(other.last_sequence_number, WAIT)
        assert running.state == expected(range(5, 6))
        assert running.position == 1


def test_continuous_model_resumes_from_its_stored_state(backend: Backend) -> None:
    store = backend.open()
    store.append([counted(1)])
    with run_continuous(store, model()) as running:
        assert running.wait_until(1, WAIT)
    store.append([counted(2)])
    with run_continuous(backend.open(), model()) as running:
        assert running.wait_until(2, WAIT)
        assert running.state == expected(range(1, 3))


def test_continuous_model_trusts_its_own_cursor_over_the_durable_cursor(backend: Backend) -> None:
    store = backend.open()
    store.append([counted(1)])
    store.append([counted(2)])
    with run_continuous(store, model()) as running:
        assert running.wait_until(2, WAIT)
    # As if the process died after committing the state but before the durable cursor was stored.
    store.reset_durable_stream("totals", 0)
    with run_continuous(store, model()) as running:
        store.append([counted(3)])
        assert running.wait_until(3, WAIT)
        assert running.state == expected(range(1, 4))


def test_continuous_model_runs_in_one_place_at_a_time(backend: Backend) -> None:
    store = backend.open()
    with run_continuous(store, model()), pytest.raises(DurableStreamActive):
        run_continuous(backend.open(), model())


def test_continuous_model_stops_at_a_failing_batch_and_resumes_there(backend: Backend) -> None:
    store = backend.open()

    def fragile(state: dict[str, Any], records: list[EventRecord]) -> dict[str, Any]:
        if any(record.payload["n"] == 2 for record in records):
            raise RuntimeError("cannot fold 2")
        return add_up(state, records)

    errors: list[BaseException] = []
    store.append([counted(1)])
    store.append([counted(2)])
    with run_continuous(store, QueryModel("totals", COUNTED, INITIAL, fragile), on_error=errors.append) as run:
        with pytest.raises(RuntimeError, match="cannot fold 2"):
            run.wait_until(2, WAIT)
        assert run.state == expected(range(1, 2))
        assert isinstance(run.failure, RuntimeError)
        assert errors == [run.failure]
    with run_continuous(store, model()) as running:
        assert running.wait_until(2, WAIT)
        assert running.state == expected(range(1, 3))


def test_state_that_is_not_json_stops_a_persisted_model(backend: Backend) -> None:
    store = backend.open()
    store.append([counted(1)])
    broken: QueryModel[Any] = QueryModel("broken", COUNTED, 0, lambda state, records: object())
    with run_continuous(store, broken) as running, pytest.raises(InvalidInput, match="JSON"):
        running.wait_until(1, WAIT)


def test_a_stored_state_built_from_another_query_must_be_rebuilt(backend: Backend) -> None:
    store = backend.open()
    store.append([counted(1)])
    with OnDemandQueryModel(store, model()) as on_demand:
        on_demand.read()
    other_query = EventQuery(filters=[EventFilter(event_types=["Counted", "Other"])])
    with pytest.raises(QueryModelMismatch):
        run_continuous(store, QueryModel("totals", other_query, INITIAL, add_up))


def test_on_demand_model_catches_up_before_it_answers(backend: Backend) -> None:
    store = backend.open()
    store.append([counted(1), counted(2)])
    with OnDemandQueryModel(store, model()) as on_demand:
        assert on_demand.read() == expected(range(1, 3))
        store.append([counted(3)])
        assert on_demand.read() == expected(range(1, 4))
        assert on_demand.position == 3
    info = inspect(store, "totals")
    assert info is not None
    assert (info.cursor, info.state) == (3, expected(range(1, 4)))


def test_on_demand_model_reads_past_many_pages(backend: Backend) -> None:
    store = backend.open()
    store.append([counted(n) for n in range(1, 2501)])
    with OnDemandQueryModel(store, model()) as on_demand:
        assert on_demand.read() == expected(range(1, 2501))


def test_on_demand_readers_in_parallel_count_each_fact_once(backend: Backend) -> None:
    store = backend.open()
    readers = [OnDemandQueryModel(backend.open(), model()) for _ in range(4)]
    stop = threading.Event()

    def keep_reading(reader: OnDemandQueryModel[dict[str, Any]]) -> None:
        while not stop.is_set():
            reader.read()

    threads = [threading.Thread(target=keep_reading, args=(reader,)) for reader in readers]
    for thread in threads:
        thread.start()
    try:
        for n in range(1, 61):
            store.append([counted(n)])
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    for reader in readers:
        assert reader.read() == expected(range(1, 61))
        reader.close()


def test_continuous_and_on_demand_on_one_model_count_each_fact_once(backend: Backend) -> None:
    store = backend.open()
    with run_continuous(store, model()) as running, OnDemandQueryModel(backend.open(), model()) as on_demand:
        last = 0
        for n in range(1, 41):
            last = store.append([counted(n)]).last_sequence_number
            if n % 3 == 0:
                on_demand.read()
        assert running.wait_until(last, WAIT)
        assert on_demand.read() == expected(range(1, 41))
    assert (info := inspect(store, "totals")) is not None
    assert info.state == expected(range(1, 41))


def test_inline_model_is_built_from_a_query_and_stores_nothing(backend: Backend) -> None:
    store = backend.open()
    store.append([counted(n) for n in range(1, 1501)])
    assert build_inline(store, model()) == expected(range(1, 1501))
    assert inspect(store, "totals") is None


def test_inline_model_leaves_a_mutable_initial_state_untouched(backend: Backend) -> None:
    store = backend.open()
    store.append([counted(7)])

    def collect(state: list[int], records: list[EventRecord]) -> list[int]:
        state.extend(record.payload["n"] for record in records)  # mutates: the runtime must cope
        return state

    collector: QueryModel[list[int]] = QueryModel("collect", COUNTED, [], collect)
    assert build_inline(store, collector) == [7]
    assert build_inline(store, collector) == [7]
    assert collector.initial == []


class Totals(msgspec.Struct):
    count: int = 0
    sum: int = 0


def add_up_typed(state: Totals, records: list[EventRecord]) -> Totals:
    return Totals(state.count + len(records), state.sum + sum(record.payload["n"] for record in records))


def test_typed_state_is_decoded_back_to_its_type(backend: Backend) -> None:
    store = backend.open()
    typed = QueryModel("typed", COUNTED, Totals(), add_up_typed, state_type=Totals)
    store.append([counted(4)])
    with OnDemandQueryModel(store, typed) as on_demand:
        assert on_demand.read() == Totals(1, 4)
    store.append([counted(5)])
    with OnDemandQueryModel(backend.open(), typed) as on_demand:
        assert on_demand.read() == Totals(2, 9)


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("", COUNTED),
        ("x" * 201, COUNTED),
        ("limited", EventQuery(limit=3)),
        ("backwards", EventQuery(backwards=True)),
        ("after", EventQuery(min_sequence_number=2)),
    ],
)
def test_query_model_rejects_a_bad_name_or_query(name: str, query: EventQuery) -> None:
    with pytest.raises(InvalidInput):
        QueryModel(name, query, INITIAL, add_up)
