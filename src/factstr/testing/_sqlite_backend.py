"""The SQLite test backend: a fresh database file in the test's temporary directory."""

from __future__ import annotations

from typing import Any

from .._store import EventStore
from ._backends import Backend


class SQLiteBackend(Backend):
    """One SQLite file per test; every ``open()`` is a new store object on it, like another process would be."""

    name = "sqlite"
    shares_database = True
    persistent = True

    @property
    def path(self) -> str:
        """The absolute path of the database file."""
        return str((self.workdir / "factstr.db").resolve())

    @property
    def url(self) -> str:
        # sqlite:/// followed by an absolute path gives the four slashes of an absolute SQLite URL.
        return "sqlite:///" + self.path

    def _open(self, **options: Any) -> EventStore:
        from ..sqlite import SQLiteStore

        return SQLiteStore(self.path, **options)
