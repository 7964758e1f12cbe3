"""Test backends: how the conformance suite gets a fresh database of each kind.

A :class:`Backend` stands for one empty database for one test. ``open()`` returns a new store object on it;
calling it again gives another, independent handle on the same database (as a second process would have),
where the kind of store allows it (``shares_database``). ``url`` is what a subprocess passes to
``factstr.connect`` to reach the same database, or ``None`` for in-process-only stores.
"""

from __future__ import annotations

import abc
import importlib
import importlib.util
import os
from pathlib import Path
from typing import Any

from .._memory import MemoryStore
from .._store import EventStore


class Backend(abc.ABC):
    """One fresh database of one kind, for one test."""

    name: str = ""
    shares_database: bool = False
    persistent: bool = False

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._stores: list[EventStore] = []

    @property
    def url(self) -> str | None:
        """A ``factstr.connect`` URL for this database, usable from another process; ``None`` if none."""
        return None

    def open(self, **options: Any) -> EventStore:
        """Open a new store object on this backend's database."""
        store = self._open(**options)
        self._stores.append(store)
        return store

    @abc.abstractmethod
    def _open(self, **options: Any) -> EventStore: ...

    def cleanup(self) -> None:
        """Close every store opened here and drop the database."""
        for store in self._stores:
            store.close()


class MemoryBackend(Backend):
    """The in-process reference store; a second ``open()`` returns the same object."""

    name = "memory"

    def _open(self, **options: Any) -> EventStore:
        if self._stores and not options:
            return self._stores[0]
        return MemoryStore(**options)


# Each backend lives in its own module so that a store's test support stays next to nothing else.
_BACKENDS = {
    "memory": "factstr.testing._backends:MemoryBackend",
    "sqlite": "factstr.testing._sqlite_backend:SQLiteBackend",
    "postgres": "factstr.testing._postgres_backend:PostgresBackend",
    "http": "factstr.testing._http_backend:HTTPBackend",
}


def backend_names() -> list[str]:
    """The backends to run, from ``FACTSTR_BACKENDS`` (comma-separated) or every one that exists."""
    chosen = os.environ.get("FACTSTR_BACKENDS")
    if chosen:
        return [name.strip() for name in chosen.split(",") if name.strip()]
    return [name for name in _BACKENDS if _available(name)]


def _available(name: str) -> bool:
    module = _BACKENDS[name].partition(":")[0]
    return importlib.util.find_spec(module) is not None


def make_backend(name: str, workdir: Path) -> Backend:
    """Create the backend called ``name`` for one test (it may raise ``pytest.skip``)."""
    module_name, _, class_name = _BACKENDS[name].partition(":")
    backend_class: type[Backend] = getattr(importlib.import_module(module_name), class_name)
    return backend_class(workdir)
