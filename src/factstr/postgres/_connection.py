"""Connections: the URL of a store, its connection pool, and the translation of driver errors.

Driver exceptions stop here: :func:`translate_errors` turns them into the FACTSTR error tree with
``raise ... from exc`` so that the psycopg exception stays available as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg import conninfo as pg_conninfo

from .._errors import BackendError, EventStoreError, InvalidInput, StoreClosed
from ._sql import CONFIGURE_SESSION

DEFAULT_SCHEMA = "factstr"
DEFAULT_CONNECT_TIMEOUT = 10
_MAX_IDENTIFIER_BYTES = 63  # PostgreSQL silently truncates longer names, which could merge two schemas

Connection = psycopg.Connection[tuple[Any, ...]]

# Every connection: autocommit (each statement is its own transaction unless a block says otherwise) and no
# server-side prepared statements (a prepared statement may switch to a generic plan).
CONNECTION_OPTIONS: dict[str, Any] = {"autocommit": True, "prepare_threshold": None}


class Target(NamedTuple):
    """Where a store lives: libpq connection info (without our own ``schema`` parameter) and the schema."""

    conninfo: str
    schema: str
    host: str
    port: str


def parse_target(url: str, schema: str | None) -> Target:
    """Split a ``postgresql://...?schema=NAME`` URL (or a libpq ``key=value`` string) into a Target.

    The ``schema`` keyword and the URL parameter name the same thing; giving both with different values is an
    error. A default ``connect_timeout`` bounds how long an unreachable server can make us wait.
    """
    if not isinstance(url, str):
        raise InvalidInput(f"url must be a str, got {type(url).__name__}")
    from_url = None
    conninfo = url
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        kept = [(key, value) for key, value in query if key != "schema"]
        found = [value for key, value in query if key == "schema"]
        if found:
            from_url = found[-1]
        conninfo = urlunsplit(parts._replace(query=urlencode(kept)))
    if schema is not None and from_url is not None and schema != from_url:
        raise InvalidInput(f"schema={schema!r} disagrees with schema={from_url!r} in the URL")
    chosen = schema if schema is not None else from_url if from_url is not None else DEFAULT_SCHEMA
    _check_schema_name(chosen)
    try:
        params = pg_conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise InvalidInput(f"not a valid PostgreSQL connection URL: {exc}") from exc
    if "connect_timeout" not in params:
        params["connect_timeout"] = DEFAULT_CONNECT_TIMEOUT
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    port = str(params.get("port") or 5432)
    return Target(pg_conninfo.make_conninfo("", **params), chosen, host, port)


def _check_schema_name(schema: object) -> None:
    if type(schema) is not str or not schema:
        raise InvalidInput(f"schema must be a non-empty str, got {schema!r}")
    if "\x00" in schema:
        raise InvalidInput("schema contains a NUL character")
    if len(schema.encode()) > _MAX_IDENTIFIER_BYTES:
        raise InvalidInput(f"schema {schema!r} is longer than {_MAX_IDENTIFIER_BYTES} bytes")


def configure(conn: Connection) -> None:
    """Set up a new pooled connection (see CONFIGURE_SESSION)."""
    conn.execute(CONFIGURE_SESSION)


def connect(target: Target) -> Connection:
    """Open one configured connection; raise BackendError naming host and port if there is no answer."""
    try:
        conn = psycopg.connect(target.conninfo, **CONNECTION_OPTIONS)
    except psycopg.Error as exc:
        raise BackendError(f"cannot connect to PostgreSQL at {target.host}:{target.port}: {exc}") from exc
    try:
        configure(conn)
    except psycopg.Error as exc:
        conn.close()
        raise BackendError(f"cannot set up a PostgreSQL session at {target.host}:{target.port}: {exc}") from exc
    return conn


def check_alive(conn: Connection) -> None:
    """Raise if the server has closed this idle connection (the pool then discards it and takes another).

    No round trip: it reads what the server sent while the connection sat in the pool. A terminated backend
    leaves an error message and end-of-file there; reading twice finds both. Checking before use matters most
    for appends: a statement sent on a dead connection has an unknown outcome, one never sent has none.
    """
    for _ in range(2):
        conn.pgconn.consume_input()
    if conn.broken or conn.pgconn.status != psycopg.pq.ConnStatus.OK:
        raise psycopg.OperationalError("the connection was closed by the server")


def open_pool(target: Target, size: int, timeout: float) -> psycopg_pool.ConnectionPool[Connection]:
    """Open the store's pool; connections are made in the background, up to ``size``."""
    pool: psycopg_pool.ConnectionPool[Connection] = psycopg_pool.ConnectionPool(
        target.conninfo,
        min_size=1,
        max_size=size,
        kwargs=CONNECTION_OPTIONS,
        configure=configure,
        check=check_alive,
        timeout=timeout,
        num_workers=1,
        open=False,
        name=f"factstr:{target.schema}",
    )
    pool.open()
    return pool


def translate(target: Target, exc: psycopg.Error, doing: str) -> EventStoreError:
    """Return the FACTSTR error for a driver or pool error (the caller sets it as the cause)."""
    if isinstance(exc, psycopg_pool.PoolClosed):
        return StoreClosed()
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return BackendError(f"no PostgreSQL connection to {target.host}:{target.port} became available while {doing}")
    return BackendError(f"PostgreSQL at {target.host}:{target.port} failed while {doing}: {exc}")


@contextmanager
def translate_errors(target: Target, doing: str) -> Iterator[None]:
    """Turn driver and pool errors raised in the block into FACTSTR errors, with the driver's as the cause."""
    try:
        yield
    except psycopg.Error as exc:
        raise translate(target, exc, doing) from exc
