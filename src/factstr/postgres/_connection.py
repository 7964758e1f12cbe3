"""Connections: the URL of a store, its connection pool, and the translation of driver errors.

Driver exceptions stop here: :func:`translate_errors` turns them into the FACTSTR error tree with
``raise ... from exc`` so that the psycopg exception stays available as ``__cause__``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import conninfo as pg_conninfo

from .._errors import BackendError, EventStoreError, InvalidInput, StoreClosed
from ._sql import CONFIGURE_SESSION

DEFAULT_SCHEMA = "factstr"
DEFAULT_CONNECT_TIMEOUT = 10
DEFAULT_STATEMENT_TIMEOUT = 30.0
"""Seconds any one statement of a store may run before PostgreSQL cancels it (0: no limit)."""
# TCP keepalives on every connection, so that a peer that vanished without closing (a crashed host, a cut
# network) is noticed on an idle connection (the LISTEN session, the holds' session) in about 25 seconds
# instead of the operating system's two hours.
DEFAULT_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
# A pooled connection is replaced after this long, so that server-side caches of a session do not grow forever.
MAX_CONNECTION_AGE_SECONDS = 3600.0
# How long sending a cancel request to the server may take.
CANCEL_TIMEOUT_SECONDS = 5.0
_MAX_IDENTIFIER_BYTES = 63  # PostgreSQL silently truncates longer names, which could merge two schemas
_OWN_PARAMETERS = ("schema", "statement_timeout")  # FACTSTR's URL parameters, never passed to libpq

Connection = psycopg.Connection[tuple[Any, ...]]
T = TypeVar("T")

# Every connection: autocommit (each statement is its own transaction unless a block says otherwise) and no
# server-side prepared statements (a prepared statement may switch to a generic plan).
CONNECTION_OPTIONS: dict[str, Any] = {"autocommit": True, "prepare_threshold": None}


class Target(NamedTuple):
    """Where a store lives: libpq connection info (without FACTSTR's own parameters), schema, session limits."""

    conninfo: str
    schema: str
    host: str
    port: str
    statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT


def parse_target(url: str, schema: str | None, statement_timeout: float | None = None) -> Target:
    """Split a ``postgresql://...?schema=NAME&statement_timeout=SECONDS`` URL (or a libpq string) into a Target.

    The ``schema`` and ``statement_timeout`` keywords and URL parameters name the same things; giving both
    with different values is an error. A default ``connect_timeout`` bounds how long an unreachable server
    can make us wait, and default TCP keepalives notice a server that vanished without closing connections.
    """
    if not isinstance(url, str):
        raise InvalidInput(f"url must be a str, got {type(url).__name__}")
    from_url: dict[str, str] = {}
    conninfo = url
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        kept = [(key, value) for key, value in query if key not in _OWN_PARAMETERS]
        from_url = {key: value for key, value in query if key in _OWN_PARAMETERS}
        conninfo = urlunsplit(parts._replace(query=urlencode(kept)))
    chosen_schema = _agree("schema", schema, from_url.get("schema"), DEFAULT_SCHEMA)
    _check_schema_name(chosen_schema)
    timeout_text = from_url.get("statement_timeout")
    timeout = _agree(
        "statement_timeout",
        None if statement_timeout is None else _check_timeout(statement_timeout),
        None if timeout_text is None else _check_timeout(timeout_text),
        DEFAULT_STATEMENT_TIMEOUT,
    )
    try:
        params = pg_conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise InvalidInput(f"not a valid PostgreSQL connection URL: {exc}") from exc
    params.setdefault("connect_timeout", DEFAULT_CONNECT_TIMEOUT)
    for key, value in DEFAULT_KEEPALIVES.items():
        params.setdefault(key, value)
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    port = str(params.get("port") or 5432)
    return Target(pg_conninfo.make_conninfo("", **params), chosen_schema, host, port, timeout)


def _agree(name: str, keyword: T | None, in_url: T | None, default: T) -> T:
    if keyword is not None and in_url is not None and keyword != in_url:
        raise InvalidInput(f"{name}={keyword!r} disagrees with {name}={in_url!r} in the URL")
    return keyword if keyword is not None else in_url if in_url is not None else default


def _check_timeout(value: object) -> float:
    """Return a statement timeout in seconds: a finite number >= 0 (0: no limit), given as a number or text."""
    number: float | None = None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    if number is None or not math.isfinite(number) or number < 0 or number * 1000 > 2**31 - 1:
        raise InvalidInput(f"statement_timeout must be a number of seconds >= 0 (0: no limit), got {value!r}")
    return number


def _check_schema_name(schema: object) -> None:
    if type(schema) is not str or not schema:
        raise InvalidInput(f"schema must be a non-empty str, got {schema!r}")
    if "\x00" in schema:
        raise InvalidInput("schema contains a NUL character")
    if len(schema.encode()) > _MAX_IDENTIFIER_BYTES:
        raise InvalidInput(f"schema {schema!r} is longer than {_MAX_IDENTIFIER_BYTES} bytes")


def configure(conn: Connection, target: Target) -> None:
    """Set up a new connection (see CONFIGURE_SESSION): custom plans, UTC, no JIT, the statement timeout."""
    conn.execute(CONFIGURE_SESSION, [str(round(target.statement_timeout * 1000))])


def connect(target: Target) -> Connection:
    """Open one configured connection; raise BackendError naming host and port if there is no answer."""
    try:
        return _open(target)
    except psycopg.Error as exc:
        raise BackendError(f"cannot connect to PostgreSQL at {target.host}:{target.port}: {exc}") from exc


def _open(target: Target) -> Connection:
    conn = psycopg.connect(target.conninfo, **CONNECTION_OPTIONS)
    try:
        configure(conn, target)
    except BaseException:
        conn.close()
        raise
    return conn


def check_alive(conn: Connection) -> None:
    """Raise if the server has closed this idle connection (the pool then discards it and takes another).

    No round trip: it reads what the server sent while the connection sat idle. A terminated backend
    leaves an error message and end-of-file there; reading twice finds both. Checking before use matters most
    for appends: a statement sent on a dead connection has an unknown outcome, one never sent has none.
    """
    for _ in range(2):
        conn.pgconn.consume_input()
    if conn.broken or conn.pgconn.status != psycopg.pq.ConnStatus.OK:
        raise psycopg.OperationalError("the connection was closed by the server")


def is_alive(conn: Connection) -> bool:
    """Return whether an idle connection is still open, as far as can be told without a round trip."""
    try:
        check_alive(conn)
    except psycopg.Error:
        return False
    return True


class PoolTimeout(psycopg.OperationalError):
    """Every connection of the pool stayed busy for the pool's timeout."""


class PoolClosed(psycopg.OperationalError):
    """The pool (its store) was closed."""


class _Lease:
    """One connection handed to one thread; the lock keeps a cancel request from outliving the lease."""

    __slots__ = ("cancelled", "conn", "lock", "open")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.lock = threading.Lock()
        self.open = True
        self.cancelled = False


class Pool:
    """A store's connections: at most ``size``, each opened by the thread that needs it, reused while alive.

    Connections are opened in the calling thread, not in the background, which decides how an outage looks:
    while the server is down a call fails at once (the attempt to connect is refused) instead of waiting for
    a background reconnect, and the first call after the server is back connects at once instead of waiting
    for a reconnect delay that grew during the outage. After a failed attempt, one call at a time tries
    again while the others fail at once, so an unreachable host costs one ``connect_timeout``, not one per
    call. Only when every connection is busy does a call wait, up to ``timeout`` seconds.
    """

    def __init__(self, target: Target, size: int, timeout: float) -> None:
        self._target = target
        self._size = size
        self._timeout = timeout
        self._condition = threading.Condition()
        self._idle: list[tuple[Connection, float]] = []  # with the time each was opened; the newest used first
        self._count = 0  # open connections, idle or leased, plus attempts in progress
        self._closed = False
        self._down: psycopg.Error | None = None  # the last failed attempt, until one succeeds
        self._retrying = False  # one call is trying again after a failure
        self._leases: dict[int, list[_Lease]] = {}  # by thread id, for cancel()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Lend a connection to the calling thread for the block; a broken one is discarded afterwards."""
        conn, opened = self._take()
        lease = _Lease(conn)
        thread = threading.get_ident()
        with self._condition:
            self._leases.setdefault(thread, []).append(lease)
        try:
            yield conn
        finally:
            with lease.lock:
                lease.open = False
            with self._condition:
                leases = self._leases[thread]
                leases.remove(lease)
                if not leases:
                    del self._leases[thread]
            self._give_back(conn, opened, reuse=not lease.cancelled)

    def cancel(self, thread_id: int) -> bool:
        """Cancel the statement the thread ``thread_id`` runs on a connection of this pool, if it runs one.

        The connection is closed when the thread gives it back, so that a cancel request that reaches the
        server late can never hit a statement of the next borrower. Returns whether a request was sent.
        """
        with self._condition:
            leases = list(self._leases.get(thread_id, ()))
        sent = False
        for lease in leases:
            with lease.lock:
                if not lease.open:
                    continue
                lease.cancelled = True
                try:
                    lease.conn.cancel_safe(timeout=CANCEL_TIMEOUT_SECONDS)
                except psycopg.Error:
                    continue  # the statement goes on until it ends or reaches statement_timeout
                sent = True
        return sent

    def close(self) -> None:
        """Close the idle connections now and every leased one when it is given back. Idempotent."""
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._condition.notify_all()
        for conn, _ in idle:
            conn.close()

    def _take(self) -> tuple[Connection, float]:
        deadline = time.monotonic() + self._timeout
        while True:
            conn: Connection | None = None
            opened = 0.0
            with self._condition:
                while True:
                    if self._closed:
                        raise PoolClosed("the connection pool is closed")
                    if self._idle:
                        conn, opened = self._idle.pop()
                        break
                    if self._count < self._size:
                        if self._down is not None and self._retrying:
                            where = f"{self._target.host}:{self._target.port}"
                            raise psycopg.OperationalError(f"PostgreSQL at {where} is unreachable: {self._down}")
                        self._count += 1
                        retrying = self._down is not None
                        self._retrying = self._retrying or retrying
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise PoolTimeout(f"all {self._size} connections stayed busy for {self._timeout} s")
                    self._condition.wait(remaining)
            if conn is not None:
                if is_alive(conn):
                    return conn, opened
                self._discard(conn)  # closed by the server while idle (a restart, a killed session)
                continue
            return self._connect(retrying), time.monotonic()

    def _connect(self, retrying: bool) -> Connection:
        try:
            conn = _open(self._target)
        except BaseException as exc:
            with self._condition:
                self._count -= 1
                if isinstance(exc, psycopg.Error):
                    self._down = exc
                if retrying:
                    self._retrying = False
                self._condition.notify_all()
            raise
        with self._condition:
            self._down = None
            if retrying:
                self._retrying = False
        return conn

    def _give_back(self, conn: Connection, opened: float, *, reuse: bool) -> None:
        usable = (
            reuse
            and not conn.closed
            and not conn.broken
            and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            and time.monotonic() - opened < MAX_CONNECTION_AGE_SECONDS
        )
        with self._condition:
            if usable and not self._closed:
                self._idle.append((conn, opened))
                self._condition.notify()
                return
        self._discard(conn)

    def _discard(self, conn: Connection) -> None:
        conn.close()
        with self._condition:
            self._count -= 1
            self._condition.notify()


def open_pool(target: Target, size: int, timeout: float) -> Pool:
    """Open the store's pool; connections are opened when first needed, up to ``size``."""
    return Pool(target, size, timeout)


def translate(target: Target, exc: psycopg.Error, doing: str) -> EventStoreError:
    """Return the FACTSTR error for a driver or pool error (the caller sets it as the cause)."""
    if isinstance(exc, PoolClosed):
        return StoreClosed()
    where = f"{target.host}:{target.port}"
    if isinstance(exc, PoolTimeout):
        return BackendError(f"no PostgreSQL connection to {where} became available while {doing}: {exc}")
    if isinstance(exc, psycopg.errors.QueryCanceled):
        limit = f"{target.statement_timeout:g} s" if target.statement_timeout else "none"
        return BackendError(
            f"PostgreSQL at {where} cancelled the statement while {doing} ({exc}); the store's "
            f"statement_timeout is {limit}: narrow the query, or raise statement_timeout"
        )
    return BackendError(f"PostgreSQL at {where} failed while {doing}: {exc}")


@contextmanager
def translate_errors(target: Target, doing: str) -> Iterator[None]:
    """Turn driver and pool errors raised in the block into FACTSTR errors, with the driver's as the cause."""
    try:
        yield
    except psycopg.Error as exc:
        raise translate(target, exc, doing) from exc
