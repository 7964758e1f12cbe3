"""The public surface of factstr.aio: what it exports and how it presents itself."""

from __future__ import annotations

import factstr.aio as aio
from factstr import MemoryStore


def test_all_is_sorted_and_every_class_presents_itself_as_factstr_aio() -> None:
    assert aio.__all__ == sorted(aio.__all__)
    for name in aio.__all__:
        assert getattr(aio, name).__module__ == "factstr.aio", name


def test_repr_names_the_wrapped_store() -> None:
    store = MemoryStore()
    assert repr(aio.AsyncEventStore(store)) == f"<factstr.aio.AsyncEventStore {store!r}>"
    store.close()
