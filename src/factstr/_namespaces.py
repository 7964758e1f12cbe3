"""Where each store kind keeps its namespaces: independent logs next to the default one (issue 17).

A namespace is a complete log of its own, so each one is simply another store of the same kind: Memory keeps
one :class:`MemoryStore` per namespace, SQLite one database file per namespace in a directory, PostgreSQL one
schema per namespace in the same database (created by the store's own migration, under its advisory lock).
Nothing here knows about HTTP; the server's registry (``server/_namespaces.py``) decides who may create, use
and drop what.

The default namespace is the store the server was given; it is never created or dropped here.
"""

from __future__ import annotations

import abc
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import InvalidInput
from ._memory import MemoryStore
from ._store import EventStore

DEFAULT_NAMESPACE = "default"
MAX_NAME_LENGTH = 40
# Lower case only: SQLite keeps a namespace in a file named after it, and some file systems ignore case.
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
NAME_RULE = (
    f"1 to {MAX_NAME_LENGTH} characters: lower-case ASCII letters, digits, '-' and '_', starting with a letter or "
    "a digit"
)
# A namespace store of PostgreSQL gets a smaller pool than a server's main store: a server may hold many.
_POSTGRES_POOL_SIZE = 4


def check_namespace_name(name: object) -> str:
    """Return ``name`` if it follows the name rule, else raise InvalidInput saying the rule."""
    if type(name) is not str or _NAME.fullmatch(name) is None:
        raise InvalidInput(f"a namespace name is {NAME_RULE}; got {name!r}")
    return name


@dataclass(frozen=True)
class Found:
    """A namespace a storage holds: its name and whether it was created ephemeral (and its idle timeout)."""

    name: str
    ephemeral: bool = False
    idle_timeout: float | None = None


class NamespaceStorage(abc.ABC):
    """Creates, opens, lists and drops the namespaces of one store kind. Calls block (files, databases)."""

    kind: str = ""

    @abc.abstractmethod
    def open(
        self, name: str, *, create: bool, ephemeral: bool = False, idle_timeout: float | None = None
    ) -> EventStore:
        """Open the store of namespace ``name``, creating it when ``create`` (then with its ephemeral mark)."""

    @abc.abstractmethod
    def find(self) -> list[Found]:
        """Every namespace this storage holds (the default one excluded)."""

    @abc.abstractmethod
    def exists(self, name: str) -> Found | None:
        """The namespace ``name`` if this storage holds it (perhaps created by another process)."""

    @abc.abstractmethod
    def drop(self, name: str) -> None:
        """Delete everything of namespace ``name``; its store must be closed already."""


class MemoryNamespaces(NamespaceStorage):
    """One in-memory log per namespace: it lives as long as its store object."""

    kind = "memory"

    def open(
        self, name: str, *, create: bool, ephemeral: bool = False, idle_timeout: float | None = None
    ) -> EventStore:
        if not create:
            raise InvalidInput(f"no namespace named {name!r}")  # memory namespaces exist only while open
        return MemoryStore()

    def find(self) -> list[Found]:
        return []

    def exists(self, name: str) -> Found | None:
        return None

    def drop(self, name: str) -> None:
        return None


class SQLiteNamespaces(NamespaceStorage):
    """One SQLite database file per namespace, ``<directory>/<name>.db``.

    An ephemeral namespace has a small marker file next to it (``<name>.ephemeral``, holding its idle timeout),
    so that a server started later still knows to drop it when idle. Ephemeral databases are written with
    ``durability="normal"``: they hold test data, and skipping the per-commit fsync makes them cheap to create.
    """

    kind = "sqlite"

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).resolve()

    def _file(self, name: str, suffix: str) -> Path:
        return self.directory / f"{name}{suffix}"

    def open(
        self, name: str, *, create: bool, ephemeral: bool = False, idle_timeout: float | None = None
    ) -> EventStore:
        from .sqlite import SQLiteStore

        database = self._file(name, ".db")
        if create:
            self.directory.mkdir(parents=True, exist_ok=True)
            if ephemeral:
                self._file(name, ".ephemeral").write_text(json.dumps({"idle_timeout": idle_timeout}))
        elif not database.exists():
            raise InvalidInput(f"no namespace named {name!r}")
        found = self.exists(name) if not create else Found(name, ephemeral, idle_timeout)
        return SQLiteStore(database, durability="normal" if found and found.ephemeral else "full")

    def find(self) -> list[Found]:
        if not self.directory.is_dir():
            return []
        names = sorted(path.name.removesuffix(".db") for path in self.directory.glob("*.db"))
        return [self._found(name) for name in names if _NAME.fullmatch(name)]

    def exists(self, name: str) -> Found | None:
        return self._found(name) if self._file(name, ".db").exists() else None

    def _found(self, name: str) -> Found:
        marker = self._file(name, ".ephemeral")
        try:
            text = marker.read_text()
        except FileNotFoundError:
            return Found(name)
        return Found(name, True, _idle_timeout_of(text))

    def drop(self, name: str) -> None:
        from .sqlite._holds import lock_directory

        # The database first: a marker without its database is ignored, a database without its marker is kept.
        for suffix in (".db", ".db-wal", ".db-shm", ".ephemeral"):
            self._file(name, suffix).unlink(missing_ok=True)
        shutil.rmtree(lock_directory(str(self._file(name, ".db"))), ignore_errors=True)


class PostgresNamespaces(NamespaceStorage):
    """One schema per namespace in the server's database: ``<schema>_ns_<name>`` next to the default schema.

    The store creates its schema when opened (its migration runs under the schema's advisory lock); dropping
    takes the same lock, so an open and a drop of one namespace in two processes take turns. An ephemeral
    namespace carries a comment on its schema (JSON with its idle timeout).
    """

    kind = "postgresql"

    def __init__(self, conninfo: str, base_schema: str, statement_timeout: float) -> None:
        self._conninfo = conninfo
        self._base = base_schema
        self._statement_timeout = statement_timeout
        self.prefix = f"{base_schema}_ns_"

    def schema(self, name: str) -> str:
        """The schema that holds namespace ``name``; refused when PostgreSQL could not name it."""
        schema = self.prefix + name
        if len(schema.encode()) > 63:
            raise InvalidInput(
                f"namespace {name!r} makes the schema name {schema!r} longer than PostgreSQL's 63 bytes; "
                "choose a shorter name"
            )
        return schema

    def _connect(self) -> Any:
        from .postgres._connection import Target, connect

        return connect(Target(self._conninfo, self._base, "", "", self._statement_timeout))

    def open(
        self, name: str, *, create: bool, ephemeral: bool = False, idle_timeout: float | None = None
    ) -> EventStore:
        from psycopg import sql

        from .postgres import PostgresStore

        schema = self.schema(name)
        if not create and self.exists(name) is None:
            raise InvalidInput(f"no namespace named {name!r}")
        store = PostgresStore(
            self._conninfo, schema=schema, pool_size=_POSTGRES_POOL_SIZE, statement_timeout=self._statement_timeout
        )
        if create and ephemeral:
            comment = json.dumps({"factstr_ephemeral": True, "idle_timeout": idle_timeout})
            with self._connect() as conn:
                conn.execute(sql.SQL("COMMENT ON SCHEMA {} IS {}").format(sql.Identifier(schema), sql.Literal(comment)))
        return store

    _FIND = (
        "SELECT n.nspname, obj_description(n.oid, 'pg_namespace') FROM pg_catalog.pg_namespace n "
        "WHERE starts_with(n.nspname, %s) AND EXISTS (SELECT 1 FROM pg_catalog.pg_tables t "
        "WHERE t.schemaname = n.nspname AND t.tablename = 'schema_version') ORDER BY n.nspname"
    )

    def find(self) -> list[Found]:
        with self._connect() as conn:
            rows = conn.execute(self._FIND, [self.prefix]).fetchall()
        found = []
        for schema, comment in rows:
            name = str(schema)[len(self.prefix) :]
            if _NAME.fullmatch(name):
                found.append(self._found(name, comment))
        return found

    def exists(self, name: str) -> Found | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT obj_description(n.oid, 'pg_namespace') FROM pg_catalog.pg_namespace n "
                "WHERE n.nspname = %s AND EXISTS (SELECT 1 FROM pg_catalog.pg_tables t "
                "WHERE t.schemaname = n.nspname AND t.tablename = 'schema_version')",
                [self.schema(name)],
            ).fetchone()
        return None if row is None else self._found(name, row[0])

    @staticmethod
    def _found(name: str, comment: object) -> Found:
        if isinstance(comment, str) and '"factstr_ephemeral"' in comment:
            return Found(name, True, _idle_timeout_of(comment))
        return Found(name)

    def drop(self, name: str) -> None:
        from psycopg import sql

        from .postgres._schema import advisory_key

        schema = self.schema(name)
        with self._connect() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [advisory_key("migrate", schema)])
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _idle_timeout_of(text: str) -> float | None:
    try:
        value = json.loads(text).get("idle_timeout")
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def storage_for(store: EventStore, directory: str | os.PathLike[str] | None = None) -> NamespaceStorage | None:
    """The namespace storage that goes with a server's default store, or None (a store of another kind).

    SQLite namespaces live in ``directory``, by default ``<database file>.namespaces`` next to the database.
    """
    from ._memory import MemoryStore

    if isinstance(store, MemoryStore):
        return MemoryNamespaces()
    kind = type(store).__name__
    if kind == "SQLiteStore":
        path: str = store.path  # type: ignore[attr-defined]
        return SQLiteNamespaces(directory if directory is not None else path + ".namespaces")
    if kind == "PostgresStore":
        target = store._target  # type: ignore[attr-defined]
        return PostgresNamespaces(target.conninfo, target.schema, target.statement_timeout)
    return None
