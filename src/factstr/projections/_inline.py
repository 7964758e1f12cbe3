"""The inline mode: build a query model from a query when asked; nothing is stored."""

from __future__ import annotations

from .._model import EventQuery
from .._store import EventStore
from ._catch_up import PAGE_SIZE
from ._model import QueryModel, S


def build_inline(store: EventStore, model: QueryModel[S]) -> S:
    """Fold every matching fact committed so far into a fresh copy of ``model.initial`` and return it.

    Nothing is persisted and the state need not be JSON. ``apply`` is called once per page of up to
    1000 records, in sequence order. The cost grows with the number of matching facts, so this suits small
    contexts (one account, one room); use a persisted mode for models over many facts.
    """
    state = model.fresh_state()
    after = 0
    while True:
        page = store.query(
            EventQuery(filters=model.query.filters, min_sequence_number=after, limit=PAGE_SIZE)
        ).event_records
        if not page:
            return state
        state = model.apply(state, page)
        after = page[-1].sequence_number
        if len(page) < PAGE_SIZE:
            return state
