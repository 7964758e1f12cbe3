"""The SQLite file format of FACTSTR: tables, schema version, and forward migration on open.

A FACTSTR database is recognised by its header (``PRAGMA application_id``) before anything is written, so that
opening the wrong file never changes it. The schema version lives in the ``factstr_meta`` table; migrations are
numbered steps, each applied once, in order, inside one ``BEGIN IMMEDIATE`` transaction with the version check,
so that two processes opening an old file at the same time migrate it exactly once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import NamedTuple

import msgspec

from .._errors import BackendError, InvalidInput, SchemaVersionError
from ._sql import INSERT_TERMS
from ._terms import payload_document

# "FcTs": marks the file as a FACTSTR database in the SQLite header (offset 68).
APPLICATION_ID = 0x46635473


class Migration(NamedTuple):
    """One forward step: the DDL that takes a database from ``version - 1`` to ``version``, then ``fill``
    (when given) to move the data into the new shape, in the same transaction."""

    version: int
    statements: tuple[str, ...]
    fill: Callable[[sqlite3.Connection], None] | None = None


# Rows per statement when a migration rewrites what the log holds, so that memory stays flat on big files.
_MIGRATION_CHUNK = 10_000
_SELECT_PAYLOADS = "SELECT seq, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?"


def _index_payloads(connection: sqlite3.Connection) -> None:
    """Write the full-text index of every payload already in the log (schema version 2)."""
    after = 0
    while True:
        rows = connection.execute(_SELECT_PAYLOADS, (after, _MIGRATION_CHUNK)).fetchall()
        if not rows:
            return
        connection.executemany(
            INSERT_TERMS, [(seq, payload_document(msgspec.json.decode(payload))) for seq, payload in rows]
        )
        after = rows[-1][0]


# The full-text index of payload terms: one document per event (rowid = seq), whose words are the hashed terms
# of its payload (factstr.sqlite._terms). Contentless (the payload is in events), without positions or column
# sizes: it only answers "which events have this term", in sequence order, from any position. A hit is a
# necessary condition only; the matcher has the last word.
EVENT_TERMS_INDEX = (
    "CREATE VIRTUAL TABLE event_terms USING fts5("
    "terms, tokenize = 'ascii', content = '', columnsize = 0, detail = none)"
)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        (
            # key/value facts about the file itself; 'schema_version' is the one every open reads.
            """
            CREATE TABLE factstr_meta (
                key   TEXT PRIMARY KEY,
                value TEXT NOT NULL
            ) WITHOUT ROWID
            """,
            # The log. seq is the rowid, so a lookup or a range by number is a primary-key search.
            # batch_start is the first seq of the append that wrote the row, which keeps batch boundaries
            # for replay; occurred_at is microseconds since the Unix epoch, UTC, one value per batch.
            """
            CREATE TABLE events (
                seq         INTEGER PRIMARY KEY,
                batch_start INTEGER NOT NULL,
                occurred_at INTEGER NOT NULL,
                event_type  TEXT    NOT NULL,
                payload     TEXT    NOT NULL
            )
            """,
            "CREATE INDEX events_by_type ON events (event_type, seq)",
            # The inverted index of payload terms (factstr._matching.payload_terms), written in the same
            # transaction as the events. A hit is a necessary condition only; the matcher has the last word.
            """
            CREATE TABLE event_terms (
                term INTEGER NOT NULL,
                seq  INTEGER NOT NULL,
                PRIMARY KEY (term, seq)
            ) WITHOUT ROWID
            """,
            # Durable stream cursors: the canonical JSON of the query and the last handled seq (0: none).
            """
            CREATE TABLE durable_cursors (
                name         TEXT PRIMARY KEY,
                filters_json TEXT    NOT NULL,
                cursor       INTEGER NOT NULL
            ) WITHOUT ROWID
            """,
        ),
    ),
    # The term index becomes a full-text index: an append writes one row per event instead of one b-tree row
    # per term at a random place, and the index merges its segments as it grows.
    Migration(2, ("DROP TABLE event_terms", EVENT_TERMS_INDEX), _index_payloads),
    # Idempotency keys (C9.4): one row per batch appended with a key, written in the batch's transaction; the
    # digest of its events and its range of numbers, so that a retry gets the same AppendResult. Kept forever.
    Migration(
        3,
        (
            """
            CREATE TABLE idempotency_keys (
                key       TEXT    PRIMARY KEY,
                digest    TEXT    NOT NULL,
                first_seq INTEGER NOT NULL,
                last_seq  INTEGER NOT NULL
            ) WITHOUT ROWID
            """,
        ),
    ),
)

SCHEMA_VERSION_KEY = "schema_version"

_READ_APPLICATION_ID = "PRAGMA application_id"
_COUNT_SCHEMA_OBJECTS = "SELECT count(*) FROM sqlite_schema"
_READ_VERSION = "SELECT value FROM factstr_meta WHERE key = ?"
_WRITE_VERSION = (
    "INSERT INTO factstr_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


def latest_version() -> int:
    """The schema version this FACTSTR writes."""
    return MIGRATIONS[-1].version


def identify(connection: sqlite3.Connection, path: str) -> int:
    """Return the schema version of the file (0 for an empty database), reading only, never writing.

    Raises InvalidInput when the file is a SQLite database with other content or not a database at all,
    and SchemaVersionError when a newer FACTSTR wrote it.
    """
    try:
        application_id = connection.execute(_READ_APPLICATION_ID).fetchone()[0]
        objects = connection.execute(_COUNT_SCHEMA_OBJECTS).fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorname in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            raise InvalidInput(f"{path!r} is not a FACTSTR database (not a SQLite file); left untouched") from exc
        raise
    if application_id == 0 and objects == 0:
        return 0
    if application_id != APPLICATION_ID:
        raise InvalidInput(f"{path!r} is a SQLite database that FACTSTR did not create; left untouched")
    return _stored_version(connection, path)


def _stored_version(connection: sqlite3.Connection, path: str) -> int:
    row = connection.execute(_READ_VERSION, (SCHEMA_VERSION_KEY,)).fetchone()
    if row is None:
        raise InvalidInput(f"{path!r} is marked as a FACTSTR database but has no schema version")
    version = int(row[0])
    if version > latest_version():
        raise SchemaVersionError(
            f"{path!r} has schema version {version}, newer than {latest_version()} which this FACTSTR "
            "understands; upgrade factstr"
        )
    return version


def _execute_ddl(connection: sqlite3.Connection, statement: str, path: str) -> None:
    try:
        connection.execute(statement)
    except sqlite3.OperationalError as exc:
        if "no such module: fts5" in str(exc):
            raise BackendError(
                f"cannot open {path!r}: this Python's SQLite library ({sqlite3.sqlite_version}) was built without "
                "FTS5, which the SQLite store needs for its term index"
            ) from exc
        raise


def migrate(connection: sqlite3.Connection, path: str) -> None:
    """Bring the file to the latest schema version, and prove that it is writable.

    The caller has checked the file with :func:`identify`. The version is read again inside the write
    transaction: BEGIN IMMEDIATE takes the database's write lock, so no other process migrates concurrently.
    SQLite silently opens a file it may not write read-only, so the version is always written: on a read-only
    file that fails now, with SQLITE_READONLY, instead of at the first append. A current file rolls back, so
    opening it writes nothing.
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = identify(connection, path)
        if version == 0:
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")
        for migration in MIGRATIONS:
            if migration.version <= version:
                continue
            for statement in migration.statements:
                _execute_ddl(connection, statement, path)
            if migration.fill is not None:
                migration.fill(connection)
        connection.execute(_WRITE_VERSION, (SCHEMA_VERSION_KEY, str(latest_version())))
        connection.execute("COMMIT" if version < latest_version() else "ROLLBACK")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
