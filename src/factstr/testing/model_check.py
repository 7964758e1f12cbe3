"""A hypothesis state machine: random appends, conditional appends and queries on a store must give the same
results as a deliberately simple model (a Python list searched by brute force with the reference matcher).

Queries include ``max_sequence_number``, so this also holds every store's translation of the upper bound (the
SQLite index walks, the PostgreSQL functions) to the reference matcher."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from .._errors import ConditionalAppendConflict
from .._matching import query_matches
from .._model import JSON, EventFilter, EventQuery, NewEvent
from .._store import EventStore
from .._validation import check_query
from ._backends import Backend, make_backend

__all__ = ["test_store_agrees_with_a_simple_model"]

EVENT_TYPES = ["opened", "deposited", "closed"]
KEYS = ["a", "b", "c"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=2),
    st.sampled_from([0.0, 1.0, 1.5, -2.0]),
    st.sampled_from(["x", "y", ""]),
)
json_values: st.SearchStrategy[JSON] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=3),
    ),
    max_leaves=6,
)
payloads = st.one_of(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=3), json_values)
new_events = st.builds(NewEvent, st.sampled_from(EVENT_TYPES), payloads)
filters = st.builds(
    EventFilter,
    event_types=st.one_of(st.none(), st.lists(st.sampled_from(EVENT_TYPES), max_size=2)),
    payload_predicates=st.one_of(st.none(), st.lists(payloads, max_size=2)),
)
queries = st.builds(
    EventQuery,
    filters=st.one_of(st.none(), st.lists(filters, max_size=2)),
    min_sequence_number=st.one_of(st.none(), st.integers(min_value=0, max_value=12)),
    limit=st.one_of(st.none(), st.integers(min_value=0, max_value=4)),
    backwards=st.booleans(),
    max_sequence_number=st.one_of(st.none(), st.integers(min_value=0, max_value=14)),
)


class _Model:
    """The log as a list of (type, payload); everything by brute force."""

    def __init__(self) -> None:
        self.events: list[tuple[str, JSON]] = []

    def matching(self, query: EventQuery) -> list[int]:
        prepared = check_query(query)
        return [
            number
            for number, (event_type, payload) in enumerate(self.events, start=1)
            if query_matches(prepared.filters, event_type, payload)
        ]

    def query(self, query: EventQuery) -> tuple[list[int], int | None, int | None, int | None]:
        top = len(self.events) if query.max_sequence_number is None else query.max_sequence_number
        every = [number for number in self.matching(query) if number <= top]
        after = query.min_sequence_number or 0
        selected = [number for number in every if number > after]
        if query.backwards:
            selected.reverse()
        if query.limit is not None:
            selected = selected[: query.limit]
        head = len(self.events) or None
        return selected, (selected[-1] if selected else None), (every[-1] if every else None), head


def _run(backend_name: str, workdir: Path) -> None:
    class StoreMachine(RuleBasedStateMachine):
        backend: Backend
        store: EventStore

        @initialize()
        def open_store(self) -> None:
            self.directory = tempfile.TemporaryDirectory(dir=workdir)
            self.backend = make_backend(backend_name, Path(self.directory.name))
            self.store = self.backend.open()
            self.model = _Model()

        def teardown(self) -> None:
            if hasattr(self, "backend"):
                self.backend.cleanup()
                self.directory.cleanup()

        @rule(events=st.lists(new_events, min_size=1, max_size=3))
        def append(self, events: list[NewEvent]) -> None:
            result = self.store.append(events)
            assert result.first_sequence_number == len(self.model.events) + 1
            self.model.events.extend((e.event_type, e.payload) for e in events)

        @rule(
            events=st.lists(new_events, min_size=1, max_size=2),
            context=queries,
            expectation=st.sampled_from(["current", "ahead", "behind"]),
        )
        def append_if(self, events: list[NewEvent], context: EventQuery, expectation: str) -> None:
            context = msgspec.structs.replace(context, max_sequence_number=None)  # a condition has no upper bound
            every = self.model.matching(context)
            actual = every[-1] if every else None
            expected = actual
            if expectation == "ahead":
                expected = (actual or 0) + 1
            elif expectation == "behind" and every:
                expected = every[-2] if len(every) >= 2 else None  # facts were committed since this version
            stale = expected != actual
            try:
                self.store.append_if(events, context, expected)
            except ConditionalAppendConflict as conflict:
                assert stale, "append_if conflicted although the context was unchanged"
                assert (conflict.expected, conflict.actual) == (expected, actual)
                after_expected = [number for number in every if number > (expected or 0)]
                assert [record.sequence_number for record in conflict.facts] == after_expected
                for record in conflict.facts:
                    assert (record.event_type, record.payload) == self.model.events[record.sequence_number - 1]
                return
            assert not stale, "append_if committed on a stale context version"
            self.model.events.extend((e.event_type, e.payload) for e in events)

        @rule(query=queries)
        def query(self, query: EventQuery) -> None:
            result = self.store.query(query)
            got = (
                [r.sequence_number for r in result.event_records],
                result.last_returned_sequence_number,
                result.current_context_version,
                result.head,
            )
            assert got == self.model.query(query)
            for record in result.event_records:
                assert (record.event_type, record.payload) == self.model.events[record.sequence_number - 1]

        @invariant()
        def head_agrees(self) -> None:
            if hasattr(self, "store"):
                assert self.store.head() == (len(self.model.events) or None)

    # Persistent stores and the HTTP server cost a fresh database (and server) per example.
    examples = 8 if backend_name.startswith("http") else {"memory": 60}.get(backend_name, 15)
    StoreMachine.TestCase.settings = settings(
        max_examples=examples,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    test_case: Any = StoreMachine.TestCase("runTest")
    test_case.runTest()


def test_store_agrees_with_a_simple_model(backend_name: str, tmp_path: Path) -> None:
    """C2-C5, C8: random appends, conditional appends and queries agree with a brute-force model."""
    _run(backend_name, tmp_path)
