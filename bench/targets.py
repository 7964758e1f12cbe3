"""The stores under test: how to open a fresh database of each kind, its raw baseline, and its settings.

A target opens any number of independent databases, each named by a label (``history-N``, ``writes``...):
a file per label for SQLite, a schema per label for PostgreSQL (all under one scratch prefix per run, dropped
at the end), a new object for Memory. ``url`` and ``options`` let a subprocess open the same database.
"""

from __future__ import annotations

import abc
import importlib
import os
import secrets
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import factstr
from factstr import EventStore

from .raw import RawDatabase, RawPostgres, RawSQLite

STORE_NAMES = ("memory", "sqlite", "postgres")
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


class Unavailable(Exception):
    """A store cannot be benchmarked here (not importable, server unreachable); the message says why."""


@dataclass
class Opened:
    """A store on a fresh database, and how another process reaches it (``url`` None: it cannot)."""

    store: EventStore
    url: str | None
    options: dict[str, Any] = field(default_factory=dict)


class Target(abc.ABC):
    """One kind of store under test."""

    name: str = ""
    shares_database = False
    """Whether other processes can open the same database (B4 processes, B7 cross-process, B8 by URL)."""

    def __init__(self) -> None:
        self._opened: list[EventStore] = []

    def open(self, label: str) -> Opened:
        """Open a store on a new, empty database called ``label``."""
        opened = self._open(label)
        self._opened.append(opened.store)
        return opened

    @abc.abstractmethod
    def _open(self, label: str) -> Opened: ...

    def raw(self) -> RawDatabase | None:
        """The raw baseline for this kind of database, or None (Memory has none)."""
        return None

    @abc.abstractmethod
    def settings(self) -> dict[str, str]:
        """The settings in force that a reader must know (durability, versions)."""

    def close(self) -> None:
        """Close every store opened here and remove the scratch databases."""
        for store in self._opened:
            store.close()
        self._opened.clear()


class MemoryTarget(Target):
    name = "memory"

    def _open(self, label: str) -> Opened:
        return Opened(factstr.MemoryStore(), None)

    def settings(self) -> dict[str, str]:
        return {"durability": "none (in-process)"}


class SQLiteTarget(Target):
    name = "sqlite"
    shares_database = True

    def __init__(self, durability: str) -> None:
        super().__init__()
        try:
            importlib.import_module("factstr.sqlite")
        except ImportError as exc:
            raise Unavailable(f"factstr.sqlite cannot be imported: {exc}") from exc
        self._durability = durability
        self._directory = Path(tempfile.mkdtemp(prefix="factstr-bench-"))
        self._journal_mode = "?"
        self._synchronous = "FULL" if durability == "full" else "NORMAL"
        self._raw: RawSQLite | None = None

    def _open(self, label: str) -> Opened:
        path = self._directory / f"{label}.db"
        url = f"sqlite:///{path}"
        options = {"durability": self._durability}
        store = factstr.connect(url, **options)
        if self._journal_mode == "?":
            probe = sqlite3.connect(path)
            try:
                self._journal_mode = str(probe.execute("PRAGMA journal_mode").fetchone()[0]).upper()
            finally:
                probe.close()
        return Opened(store, url, options)

    def raw(self) -> RawDatabase:
        if self._raw is None:
            if self._journal_mode == "?":
                self.open("journal-mode-probe")
            self._raw = RawSQLite(
                self._directory / "raw.db", journal_mode=self._journal_mode, synchronous=self._synchronous
            )
        return self._raw

    def settings(self) -> dict[str, str]:
        return {
            "durability": f"durability={self._durability!r} (synchronous={self._synchronous}, "
            f"journal_mode={self._journal_mode})",
            "version": f"SQLite {sqlite3.sqlite_version}",
            "directory": str(self._directory),
        }

    def close(self) -> None:
        super().close()
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        shutil.rmtree(self._directory, ignore_errors=True)


class PostgresTarget(Target):
    name = "postgres"
    shares_database = True

    def __init__(self, url: str) -> None:
        super().__init__()
        try:
            importlib.import_module("factstr.postgres")
            import psycopg
        except ImportError as exc:
            raise Unavailable(f"factstr.postgres cannot be imported: {exc}") from exc
        self._url = url
        try:
            with psycopg.connect(url, connect_timeout=5, autocommit=True) as connection:
                self._server: dict[str, str] = {}
                for setting in ("server_version", "synchronous_commit", "fsync", "wal_sync_method"):
                    row = connection.execute(f"SHOW {setting}").fetchone()
                    self._server[setting] = str(row[0]) if row else "?"
        except psycopg.Error as exc:
            raise Unavailable(f"PostgreSQL at {url} cannot be reached: {exc}".strip()) from exc
        self.prefix = f"factstr_bench_{os.getpid()}_{secrets.token_hex(3)}"
        self._raw: RawPostgres | None = None

    def _open(self, label: str) -> Opened:
        schema = f"{self.prefix}_{label.replace('-', '_')}"
        url = f"{self._url}{'&' if '?' in self._url else '?'}schema={schema}"
        return Opened(factstr.connect(url), url)

    def raw(self) -> RawDatabase:
        if self._raw is None:
            self._raw = RawPostgres(self._url, f"{self.prefix}_raw")
        return self._raw

    def settings(self) -> dict[str, str]:
        return {
            "durability": "server defaults (synchronous_commit={synchronous_commit}, fsync={fsync}, "
            "wal_sync_method={wal_sync_method})".format(**self._server),
            "version": f"PostgreSQL {self._server['server_version']}",
            "schema prefix": self.prefix,
        }

    def close(self) -> None:
        import psycopg
        from psycopg import sql

        super().close()
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        with psycopg.connect(self._url, autocommit=True) as connection:
            rows = connection.execute(
                "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", (self.prefix,)
            ).fetchall()
            for (schema,) in rows:
                connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def make_target(name: str, *, sqlite_durability: str, postgres_url: str) -> Target:
    """Create the target called ``name``; raises Unavailable with the reason when it cannot run here."""
    if name == "memory":
        return MemoryTarget()
    if name == "sqlite":
        return SQLiteTarget(sqlite_durability)
    if name == "postgres":
        return PostgresTarget(postgres_url)
    raise ValueError(f"unknown store {name!r} (choose from {', '.join(STORE_NAMES)})")
