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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._memory import MemoryStore
from .._store import EventStore


class Backend(abc.ABC):
    """One fresh database of one kind, for one test.

    A store of your own implements ``_open(**options)`` (a new store object on this test's database, using
    ``workdir`` for files) and, if dropping the database needs more than closing its stores, ``cleanup()``.
    Set ``shares_database`` when two ``open()`` calls reach the same database (as two processes would), and
    ``persistent`` when a database outlives its store objects; the tests that need either skip otherwise.
    """

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


BackendFactory = Callable[[Path], Backend]
"""Makes the backend of one test from that test's temporary directory (a Backend subclass is one)."""

# Each built-in backend lives in its own module so that a store's test support stays next to nothing else.
_BUILT_IN = {
    "memory": "factstr.testing._backends:MemoryBackend",
    "sqlite": "factstr.testing._sqlite_backend:SQLiteBackend",
    "postgres": "factstr.testing._postgres_backend:PostgresBackend",
    "http": "factstr.testing._http_backend:HTTPBackend",
    # The suite through HTTP in a namespace that is not the default one, on each kind of store.
    "http-ns-memory": "factstr.testing._http_backend:MemoryNamespaceBackend",
    "http-ns-sqlite": "factstr.testing._http_backend:SQLiteNamespaceBackend",
    "http-ns-postgres": "factstr.testing._http_backend:PostgresNamespaceBackend",
}
_registered: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Add a backend to the conformance suite: ``factory(workdir)`` returns a fresh, empty database for one test.

    Call it from a ``conftest.py`` (before tests are collected), then select it with ``FACTSTR_BACKENDS=name``
    or let it run with every other available backend. Registering a name again replaces the factory; the
    built-in names (memory, sqlite, postgres, http) cannot be replaced.
    """
    if type(name) is not str or not name or "," in name or name != name.strip():
        raise ValueError(f"a backend name is a non-empty str without commas or surrounding spaces, got {name!r}")
    if name in _BUILT_IN:
        raise ValueError(f"{name!r} is a built-in backend; choose another name")
    if not callable(factory):
        raise TypeError(f"factory must be callable (a Backend subclass, or workdir -> Backend), got {factory!r}")
    _registered[name] = factory


def backend_names() -> list[str]:
    """The backends to run: ``FACTSTR_BACKENDS`` (comma-separated), else every available and registered one."""
    chosen = os.environ.get("FACTSTR_BACKENDS")
    if chosen:
        return [name.strip() for name in chosen.split(",") if name.strip()]
    return [name for name in _BUILT_IN if _available(name)] + list(_registered)


def _available(name: str) -> bool:
    module = _BUILT_IN[name].partition(":")[0]
    if name == "http-ns-postgres" and importlib.util.find_spec("psycopg") is None:
        return False
    return importlib.util.find_spec(module) is not None


def make_backend(name: str, workdir: Path) -> Backend:
    """Create the backend called ``name`` for one test (it may raise ``pytest.skip``)."""
    if name in _registered:
        made = _registered[name](workdir)
        if not isinstance(made, Backend):
            raise TypeError(f"the factory of backend {name!r} returned {made!r}, not a factstr.testing.Backend")
        return made
    if name not in _BUILT_IN:
        known = ", ".join([*_BUILT_IN, *_registered])
        raise ValueError(f"no backend named {name!r} (known: {known}); register it with register_backend()")
    module_name, _, class_name = _BUILT_IN[name].partition(":")
    backend_class: type[Backend] = getattr(importlib.import_module(module_name), class_name)
    return backend_class(workdir)
