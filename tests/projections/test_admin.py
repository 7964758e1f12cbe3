"""Inspecting, resetting and rebuilding stored query models."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from factstr import DurableStreamActive, EventRecord, InvalidInput, NewEvent
from factstr.projections import (
    OnDemandQueryModel,
    QueryModel,
    QueryModelInfo,
    inspect,
    load_query_model,
    query_models,
    rebuild,
    reset,
    run_continuous,
)
from factstr.testing import Backend

from .models import COUNTED, INITIAL, LOADABLE, add_up, counted, expected

WAIT = 15.0


def model(name: str = "totals") -> QueryModel[dict[str, Any]]:
    return QueryModel(name, COUNTED, INITIAL, add_up)


def test_inspect_shows_cursor_lag_and_state(backend: Backend) -> None:
    store = backend.open()
    store.append([counted(1), counted(2)])
    with OnDemandQueryModel(store, model()) as on_demand:
        on_demand.read()
    store.append([counted(3)])
    info = inspect(store, model())
    assert info is not None
    assert (info.name, info.cursor, info.head, info.lag, info.running) == ("totals", 2, 3, 1, False)
    assert info.state == expected(range(1, 3))


def other() -> NewEvent:
    """A fact no test model matches."""
    return NewEvent("Other", {"n": 0})


def test_a_caught_up_model_has_lag_zero_when_the_last_facts_do_not_match(backend: Backend) -> None:
    store = backend.open()
    store.append([counted(1), counted(2)])
    store.append([other()])
    store.append([other(), other()])
    with OnDemandQueryModel(store, model()) as on_demand:
        on_demand.read()
    info = inspect(store, model())
    assert info is not None
    assert (info.cursor, info.head, info.lag) == (2, 5, 0)
    assert [entry.lag for entry in query_models(store)] == [0]


def test_lag_counts_from_the_first_matching_fact_not_folded_in(backend: Backend) -> None:
    store = backend.open()
    store.append([counted(1)])
    with OnDemandQueryModel(store, model()) as on_demand:
        on_demand.read()
    store.append([other(), other()])  # 2, 3: nothing to fold
    store.append([counted(4)])  # 4: to fold
    store.append([other()])  # 5
    info = inspect(store, model())
    assert info is not None and (info.cursor, info.head, info.lag) == (1, 5, 2)


def test_a_rebuilt_model_has_lag_zero_when_the_last_facts_do_not_match(backend: Backend) -> None:
    store = backend.open()
    store.append([counted(1), other()])
    rebuild(store, model())
    info = inspect(store, model())
    assert info is not None and (info.cursor, info.head, info.lag) == (1, 2, 0)


def test_a_running_model_reaches_lag_zero_past_facts_it_does_not_match(backend: Backend) -> None:
    store = backend.open()
    with run_continuous(store, model()) as running:
        store.append([counted(1)])
        last = store.append([other()]).last_sequence_number
        assert running.wait_until(last, WAIT)
        info = inspect(store, "totals")
        assert info is not None and (info.cursor, info.lag, info.running) == (1, 0, True)


def test_inspect_shows_a_running_model(backend: Backend) -> None:
    store = backend.open()
    store.append([counted(1)])
    with run_continuous(store, model()) as running:
        assert running.wait_until(1, WAIT)
        info = inspect(store, "totals")
        assert info is not None and info.running


def test_query_models_lists_every_stored_model(backend: Backend) -> None:
    store = backend.open()
    store.append([counted(1)])
    for name in ("b", "a"):
        with OnDemandQueryModel(store, model(name)) as on_demand:
            on_demand.read()
    assert [info.name for info in query_models(store)] == ["a", "b"]


def test_reset_starts_a_model_again_from_its_initial_state(backend: Backend) -> None:
    store = backend.open()
    store.append([counted(1)])
    with run_continuous(store, model()) as running:
        assert running.wait_until(1, WAIT)
    reset(store, "totals")
    assert inspect(store, "totals") is None
    assert store.durable_stream("totals") is None
    with OnDemandQueryModel(store, model()) as on_demand:
        assert on_demand.read() == expected(range(1, 2))


def test_reset_is_refused_while_the_model_runs(backend: Backend) -> None:
    store = backend.open()
    with run_continuous(store, model()), pytest.raises(DurableStreamActive):
        reset(store, "totals")


def test_rebuild_folds_everything_again_with_a_new_apply_and_reports_progress(backend: Backend) -> None:
    store = backend.open()
    store.append([counted(n) for n in range(1, 1201)])
    store.append([counted(0)])
    with OnDemandQueryModel(store, model()) as on_demand:
        on_demand.read()

    def count_only(state: dict[str, Any], records: list[EventRecord]) -> dict[str, Any]:
        return {"count": state["count"] + len(records), "sum": 0}

    calls: list[tuple[int, int]] = []
    state = rebuild(store, QueryModel("totals", COUNTED, INITIAL, count_only), progress=lambda *a: calls.append(a))
    assert state == {"count": 1201, "sum": 0}
    assert calls[0] == (0, 1201)
    assert calls[-1] == (1201, 1201)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert len(calls) >= 3
    info = inspect(store, "totals")
    assert info is not None and info.state == {"count": 1201, "sum": 0}


def test_rebuild_is_refused_while_the_model_runs(backend: Backend) -> None:
    store = backend.open()
    with run_continuous(store, model()), pytest.raises(DurableStreamActive):
        rebuild(store, model())


def test_a_query_model_is_found_by_its_import_path() -> None:
    assert load_query_model("tests.projections.models:LOADABLE") is LOADABLE


@pytest.mark.parametrize(
    "path",
    ["no-colon", ":LOADABLE", "tests.projections.models:", "no_such_module_x:M", "tests.projections.models:COUNTED"],
)
def test_a_bad_query_model_path_is_refused(path: str) -> None:
    with pytest.raises(InvalidInput):
        load_query_model(path)


def test_query_model_info_round_trips_through_json() -> None:
    info = QueryModelInfo(name="a", cursor=3, head=5, lag=2, running=False, state={"count": 1})
    assert msgspec.json.decode(msgspec.json.encode(info), type=QueryModelInfo) == info
