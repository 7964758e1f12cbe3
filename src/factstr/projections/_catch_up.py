"""Catching a persisted query model up: read its facts page by page after its cursor and fold them in."""

from __future__ import annotations

from collections.abc import Callable

from .._model import EventQuery
from .._store import EventStore
from ._fold import Fold
from ._model import QueryModelReset, S, Snapshot

# How many records one page holds; an apply call gets at most one page.
PAGE_SIZE = 1000


def catch_up(
    store: EventStore,
    query: EventQuery,
    fold: Fold[S],
    *,
    page_size: int = PAGE_SIZE,
    progress: Callable[[int], object] | None = None,
) -> Snapshot[S]:
    """Fold every matching record committed before this call (and maybe some after) into ``fold``.

    Pages are query results, so they do not follow batch boundaries; a pure fold does not care. Visibility
    follows sequence order (C4), so reading after a cursor never skips a record that commits later below it.
    ``progress`` gets the last sequence number folded in after each page.
    """
    while True:
        after = fold.snapshot.cursor
        page = store.query(EventQuery(filters=query.filters, min_sequence_number=after, limit=page_size)).event_records
        if not page:
            return fold.snapshot
        try:
            fold.apply(page)
        except QueryModelReset:
            continue  # the fold reloaded what is stored now; read again from its cursor
        if progress is not None:
            progress(page[-1].sequence_number)
        if len(page) < page_size:
            return fold.snapshot
