"""Raw baselines: plain ``sqlite3`` / plain ``psycopg`` doing the minimal equivalent work of a store.

Each raw database has one table shaped like an event log (sequence number, commit time, type, JSON payload):
B1 inserts one row per commit, B2 inserts 100 rows per transaction, and B5's baseline looks rows up by type
and bucket through an index on exactly those two values (in a lookup table per history size, which B6's
baseline also reads in pages). Payloads are encoded to JSON in the loop, as a store
must. Settings (journal mode, synchronous) are the store's, so the ratio compares code, not configuration.
"""

from __future__ import annotations

import abc
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from .data import TYPES, history_payload

_encode = msgspec.json.encode


class RawDatabase(abc.ABC):
    """The same minimal work a store does, written directly against the driver."""

    @abc.abstractmethod
    def insert_one(self, event_type: str, payload: object) -> None:
        """Insert one row and commit it."""

    @abc.abstractmethod
    def insert_batch(self, rows: list[tuple[str, object]]) -> None:
        """Insert rows in one transaction and commit it."""

    @abc.abstractmethod
    def fill_lookup(self, count: int) -> None:
        """Create an indexed lookup table holding history events ``0..count-1`` (one table per count)."""

    @abc.abstractmethod
    def lookup(self, event_type: str, bucket: int, count: int) -> int:
        """Fetch the rows of one type and bucket from the lookup table of ``count``; return how many."""

    @abc.abstractmethod
    def page(self, count: int, after: int, limit: int) -> list[tuple[Any, ...]]:
        """Up to ``limit`` rows of the lookup table of ``count`` after sequence number ``after``, in order."""

    @abc.abstractmethod
    def close(self) -> None: ...


class RawSQLite(RawDatabase):
    """Plain ``sqlite3`` in autocommit mode; one INSERT is one transaction."""

    def __init__(self, path: Path, *, journal_mode: str, synchronous: str) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._connection.execute(f"PRAGMA journal_mode={journal_mode}")
        self._connection.execute(f"PRAGMA synchronous={synchronous}")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS raw_events (sequence_number INTEGER PRIMARY KEY, "
            "occurred_at TEXT NOT NULL, event_type TEXT NOT NULL, payload TEXT NOT NULL)"
        )

    def insert_one(self, event_type: str, payload: object) -> None:
        self._connection.execute(
            "INSERT INTO raw_events (occurred_at, event_type, payload) VALUES (?, ?, ?)",
            (datetime.now(UTC).isoformat(), event_type, _encode(payload).decode()),
        )

    def insert_batch(self, rows: list[tuple[str, object]]) -> None:
        now = datetime.now(UTC).isoformat()
        connection = self._connection
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO raw_events (occurred_at, event_type, payload) VALUES (?, ?, ?)",
            [(now, event_type, _encode(payload).decode()) for event_type, payload in rows],
        )
        connection.execute("COMMIT")

    def fill_lookup(self, count: int) -> None:
        connection = self._connection
        table = f"raw_lookup_{count}"
        connection.execute(f"DROP TABLE IF EXISTS {table}")
        connection.execute(
            f"CREATE TABLE {table} (sequence_number INTEGER PRIMARY KEY, occurred_at TEXT NOT NULL, "
            "event_type TEXT NOT NULL, payload TEXT NOT NULL)"
        )
        connection.execute(f"CREATE INDEX {table}_bucket ON {table} (event_type, payload ->> 'bucket')")
        now = datetime.now(UTC).isoformat()
        connection.execute("BEGIN")
        connection.executemany(
            f"INSERT INTO {table} (occurred_at, event_type, payload) VALUES (?, ?, ?)",
            _rows(now, range(count)),
        )
        connection.execute("COMMIT")
        connection.execute(f"ANALYZE {table}")

    def lookup(self, event_type: str, bucket: int, count: int) -> int:
        rows = self._connection.execute(
            f"SELECT sequence_number, occurred_at, event_type, payload FROM raw_lookup_{count} "
            "WHERE event_type = ? AND payload ->> 'bucket' = ? ORDER BY sequence_number",
            (event_type, bucket),
        ).fetchall()
        return len(rows)

    def page(self, count: int, after: int, limit: int) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._connection.execute(
            f"SELECT sequence_number, occurred_at, event_type, payload FROM raw_lookup_{count} "
            "WHERE sequence_number > ? ORDER BY sequence_number LIMIT ?",
            (after, limit),
        ).fetchall()
        return rows

    def close(self) -> None:
        self._connection.close()


def _rows(now: str, indexes: Iterable[int]) -> Iterable[tuple[str, str, str]]:
    for i in indexes:
        yield now, TYPES[i % len(TYPES)], _encode(history_payload(i)).decode()


class RawPostgres(RawDatabase):
    """Plain ``psycopg`` in autocommit mode, in its own scratch schema, with the server's default settings."""

    def __init__(self, url: str, schema: str) -> None:
        import psycopg
        from psycopg import sql

        self._sql = sql
        self._connection = psycopg.connect(url, autocommit=True)
        self._schema = sql.Identifier(schema)
        self._connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self._schema))
        self._connection.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.raw_events (sequence_number bigserial PRIMARY KEY, "
                "occurred_at timestamptz NOT NULL DEFAULT now(), "
                "event_type text NOT NULL, payload jsonb NOT NULL)"
            ).format(self._schema)
        )
        self._insert = sql.SQL("INSERT INTO {}.raw_events (event_type, payload) VALUES (%s, %s::jsonb)").format(
            self._schema
        )

    def insert_one(self, event_type: str, payload: object) -> None:
        self._connection.execute(self._insert, (event_type, _encode(payload).decode()))

    def insert_batch(self, rows: list[tuple[str, object]]) -> None:
        with self._connection.transaction(), self._connection.cursor() as cursor:
            cursor.executemany(self._insert, [(event_type, _encode(payload).decode()) for event_type, payload in rows])

    def fill_lookup(self, count: int) -> None:
        sql = self._sql
        connection = self._connection
        table = sql.Identifier(f"raw_lookup_{count}")
        connection.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(self._schema, table))
        connection.execute(
            sql.SQL(
                "CREATE TABLE {}.{} (sequence_number bigserial PRIMARY KEY, "
                "occurred_at timestamptz NOT NULL DEFAULT now(), "
                "event_type text NOT NULL, payload jsonb NOT NULL)"
            ).format(self._schema, table)
        )
        with (
            connection.cursor() as cursor,
            cursor.copy(sql.SQL("COPY {}.{} (event_type, payload) FROM STDIN").format(self._schema, table)) as copy,
        ):
            for i in range(count):
                copy.write_row((TYPES[i % len(TYPES)], _encode(history_payload(i)).decode()))
        connection.execute(
            sql.SQL("CREATE INDEX ON {}.{} (event_type, (payload ->> 'bucket'))").format(self._schema, table)
        )
        connection.execute(sql.SQL("ANALYZE {}.{}").format(self._schema, table))

    def lookup(self, event_type: str, bucket: int, count: int) -> int:
        statement = self._sql.SQL(
            "SELECT sequence_number, occurred_at, event_type, payload::text FROM {}.{} "
            "WHERE event_type = %s AND (payload ->> 'bucket') = %s ORDER BY sequence_number"
        ).format(self._schema, self._sql.Identifier(f"raw_lookup_{count}"))
        return len(self._connection.execute(statement, (event_type, str(bucket))).fetchall())

    def page(self, count: int, after: int, limit: int) -> list[tuple[Any, ...]]:
        statement = self._sql.SQL(
            "SELECT sequence_number, occurred_at, event_type, payload::text FROM {}.{} "
            "WHERE sequence_number > %s ORDER BY sequence_number LIMIT %s"
        ).format(self._schema, self._sql.Identifier(f"raw_lookup_{count}"))
        return list(self._connection.execute(statement, (after, limit)).fetchall())

    def close(self) -> None:
        self._connection.close()
