"""Operating persisted query models: inspect, reset and rebuild them.

Annotations here are evaluated eagerly (no ``from __future__ import annotations``): QueryModelInfo says
``__module__ = "factstr.projections"``, so msgspec would resolve string annotations in the wrong module.
"""

from collections.abc import Callable
from typing import Any

import msgspec

from .._model import JSON, EventQuery
from .._store import EventStore
from .._validation import check_durable_name, filters_from_json, filters_to_query
from ._catch_up import catch_up
from ._fold import Fold
from ._model import QueryModel, S
from ._state import StateStore, StoredState, state_store_for

Progress = Callable[[int, int], object]
"""Called as ``progress(position, head)`` while a rebuild runs: it has folded the log up to ``position``."""


class QueryModelInfo(msgspec.Struct, frozen=True):
    """A stored query model: its cursor, the log head, the lag, whether it runs, and its state as JSON."""

    __module__ = "factstr.projections"

    name: str
    cursor: int | None
    head: int | None
    lag: int
    running: bool
    state: JSON


def _name(model: QueryModel[Any] | str) -> str:
    return check_durable_name(model.name if isinstance(model, QueryModel) else model)


class _StatesFor:
    """The given state store, or one opened for the store and closed on exit."""

    def __init__(self, store: EventStore, state_store: StateStore | None) -> None:
        self._owned = state_store is None
        self.states = state_store_for(store) if state_store is None else state_store

    def __enter__(self) -> StateStore:
        return self.states

    def __exit__(self, *exc_info: object) -> None:
        if self._owned:
            self.states.close()


def _info(store: EventStore, stored: StoredState, head: int) -> QueryModelInfo:
    durable = store.durable_stream(stored.name)
    return QueryModelInfo(
        name=stored.name,
        cursor=stored.cursor,
        head=head or None,
        lag=_lag(store, stored, head),
        running=durable is not None and durable.active,
        state=msgspec.json.decode(stored.state_json),
    )


def _lag(store: EventStore, stored: StoredState, head: int) -> int:
    """The facts from the first matching one the state does not hold yet up to ``head``; 0 when caught up.

    The cursor is the last matching fact folded in, so facts after it that do not match are nothing to wait
    for: one index-backed lookup finds the first matching fact after the cursor.
    """
    facts = filters_to_query(filters_from_json(stored.fingerprint))
    query = EventQuery(filters=facts.filters, min_sequence_number=stored.cursor, limit=1)
    pending = store.query(query).event_records
    if not pending or pending[0].sequence_number > head:
        return 0  # (a fact committed after ``head`` was read is not counted)
    return head - pending[0].sequence_number + 1


def inspect(
    store: EventStore, model: QueryModel[Any] | str, *, state_store: StateStore | None = None
) -> QueryModelInfo | None:
    """Return what is stored for a query model, or ``None`` if nothing is; ``state`` is plain JSON.

    ``lag`` counts the facts from the first matching fact not folded in yet up to the head, matching or not
    (an upper bound of what is left to read); it is 0 when every matching fact is folded in, whatever follows.
    """
    name = _name(model)
    with _StatesFor(store, state_store) as states:
        stored = states.load(name)
        return None if stored is None else _info(store, stored, store.head() or 0)


def query_models(store: EventStore, *, state_store: StateStore | None = None) -> list[QueryModelInfo]:
    """Return every stored query model of the store's database, sorted by name."""
    with _StatesFor(store, state_store) as states:
        head = store.head() or 0
        return [_info(store, stored, head) for stored in states.list_states()]


def reset(store: EventStore, model: QueryModel[Any] | str, *, state_store: StateStore | None = None) -> None:
    """Forget a query model's state, cursor and durable stream: it starts from its initial state next time.

    Raises DurableStreamActive while the model runs continuously somewhere; stop it first.
    """
    name = _name(model)
    with _StatesFor(store, state_store) as states:
        # Deleting the durable stream first checks that no continuous runner holds the name.
        store.delete_durable_stream(name)
        states.delete(name)


def rebuild(
    store: EventStore,
    model: QueryModel[S],
    *,
    state_store: StateStore | None = None,
    progress: Progress | None = None,
) -> S:
    """Reset a query model and fold every matching fact again; commit page by page and return the state.

    Use it after changing ``apply`` or the fact query. ``progress(position, head)`` is called after each page
    and once at the end with ``position == head`` (``head`` is the log head when the rebuild started), which
    is what a progress bar needs. Raises DurableStreamActive while the model runs continuously somewhere.
    An interrupted rebuild is not lost: the next run of the model resumes from the last committed page.
    """
    with _StatesFor(store, state_store) as states:
        reset(store, model, state_store=states)
        head = store.head() or 0
        if progress is not None:
            progress(0, head)
        fold = Fold(model, states)

        def report(position: int) -> None:
            if progress is not None:
                progress(min(position, head), head)

        snapshot = catch_up(store, model.query, fold, progress=report)
        if progress is not None:
            progress(head, head)
        return snapshot.state
