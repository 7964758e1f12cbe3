"""The one error tree of FACTSTR.

Every error a store raises derives from :class:`EventStoreError`::

    EventStoreError
    ├── ConditionalAppendConflict      an outcome: the command context changed; re-read and decide again
    ├── DurableStreamActive            an outcome: another holder has the durable name
    ├── InvalidInput                   a programmer error: bad arguments, nothing was committed
    │   ├── EmptyAppend                append() / append_if() with no events
    │   ├── DurableStreamMismatch      a durable name registered again with another query
    │   ├── UnknownDurableStream       admin call on a durable name that has no stored cursor
    │   └── UnknownNamespace           a server namespace that does not exist (HTTP client)
    ├── StoreClosed                    a programmer error: the store was closed
    ├── SchemaVersionError             the database was written by a newer FACTSTR
    ├── StreamEnded                    a remote stream the server refused to go on with (HTTP client)
    ├── BackendError                   infrastructure: the database failed (driver error as ``__cause__``)
    │   ├── AppendOutcomeUnknown       the connection died while an append was committing
    │   └── DurableStreamLost          a running durable stream lost its hold with its database session
    └── AbandonedBatch                 factstr.aio: a durable batch the async consumer did not finish

Driver exceptions never escape: stores translate them at the boundary with ``raise ... from exc``.

Each class carries its stable error code and HTTP status (``code``, ``status``), declared where the class is
(``class EmptyAppend(InvalidInput, code="empty_append", status=422)``); a subclass without its own code
answers with its parent's. :data:`ERROR_CODES` is the one table of codes the HTTP API sends: the server
answers with it, the Python client raises from it (:func:`error_class`), and the OpenAPI document lists it
for the TypeScript client. A few codes belong to the HTTP layer only (a body too large, a missing token);
they are registered here too, with the class a client raises for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

from ._model import EventRecord


class ErrorCode(NamedTuple):
    """One stable error code of the HTTP API: its HTTP status, a fixed title, and the class clients raise."""

    code: str
    status: int
    title: str
    error_class: type[EventStoreError]


ERROR_CODES: dict[str, ErrorCode] = {}
"""Every error code the HTTP API sends, in declaration order (filled as the classes below are defined)."""


def register_code(code: str, status: int, title: str, error_class: type[EventStoreError]) -> None:
    """Add a code to :data:`ERROR_CODES`; a code is declared once."""
    if code in ERROR_CODES:
        raise ValueError(f"error code {code!r} is declared twice")
    ERROR_CODES[code] = ErrorCode(code, status, title, error_class)


def error_class(code: str) -> type[EventStoreError]:
    """The class a client raises for ``code``; BackendError for a code it does not know (a newer server)."""
    known = ERROR_CODES.get(code)
    return BackendError if known is None else known.error_class


class EventStoreError(Exception):
    """Base class of every error raised by FACTSTR."""

    __module__ = "factstr"

    code: ClassVar[str] = "backend_error"
    status: ClassVar[int] = 503

    def __init_subclass__(
        cls, *, code: str | None = None, status: int | None = None, title: str = "", **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if code is None:
            return
        cls.code = code
        cls.status = cls.status if status is None else status
        register_code(code, cls.status, title, cls)


CONFLICT_FACTS_LIMIT = 100
"""At most this many facts travel with a ConditionalAppendConflict (the oldest ones; ``truncated`` says so)."""


class ConditionalAppendConflict(
    EventStoreError,
    code="conditional_append_conflict",
    status=409,
    title="The context changed",
):
    """Raised by ``append_if`` when the context's current version is not the expected one.

    ``facts`` are the context's facts committed after ``expected`` up to ``actual``, oldest first, read in the
    transaction that found the conflict: the caller can decide again without another read. At most
    :data:`CONFLICT_FACTS_LIMIT` come along; ``truncated`` is true when there were more (read the rest with a
    query after the last one and up to ``actual``). Empty when ``actual`` is not above ``expected``.
    """

    __module__ = "factstr"

    def __init__(
        self,
        expected: int | None,
        actual: int | None,
        facts: Sequence[EventRecord] = (),
        truncated: bool = False,
    ) -> None:
        super().__init__(f"conditional append conflict: expected context version {expected!r}, actual {actual!r}")
        self.expected = expected
        self.actual = actual
        self.facts: list[EventRecord] = list(facts)
        self.truncated = truncated

    def __reduce__(
        self,
    ) -> tuple[type[ConditionalAppendConflict], tuple[int | None, int | None, list[EventRecord], bool]]:
        return (ConditionalAppendConflict, (self.expected, self.actual, self.facts, self.truncated))


class DurableStreamActive(
    EventStoreError,
    code="durable_stream_active",
    status=409,
    title="The durable name is held",
):
    """Raised when a durable name is already held by another stream, in this or another process."""

    __module__ = "factstr"


class InvalidInput(
    EventStoreError,
    code="invalid_input",
    status=422,
    title="Invalid input",
):
    """Raised for arguments that break the contract or a documented limit; says what and where. Nothing is committed."""

    __module__ = "factstr"


class EmptyAppend(
    InvalidInput,
    code="empty_append",
    title="No events to append",
):
    """Raised by ``append`` and ``append_if`` when given no events."""

    __module__ = "factstr"

    def __init__(self, message: str = "append needs at least one event") -> None:
        super().__init__(message)


class DurableStreamMismatch(
    InvalidInput,
    code="durable_stream_mismatch",
    status=409,
    title="The durable name is stored with another query",
):
    """Raised when a durable name is registered with a query that differs from its stored one."""

    __module__ = "factstr"


class UnknownDurableStream(
    InvalidInput,
    code="unknown_durable_stream",
    status=404,
    title="No such durable stream",
):
    """Raised by cursor admin calls that need a stored cursor when the name has none."""

    __module__ = "factstr"


class UnknownNamespace(
    InvalidInput,
    code="unknown_namespace",
    status=404,
    title="No such namespace",
):
    """Raised by a client of a server namespace that does not exist (or was dropped)."""

    __module__ = "factstr"


class StoreClosed(
    EventStoreError,
    code="store_closed",
    status=503,
    title="The store is closed",
):
    """Raised by any operation on a store after ``close()``."""

    __module__ = "factstr"

    def __init__(self, message: str = "the store is closed") -> None:
        super().__init__(message)


class SchemaVersionError(EventStoreError):
    """Raised when opening a database whose schema is newer than this version of FACTSTR understands."""

    __module__ = "factstr"


class StreamEnded(EventStoreError):
    """Raised as a remote stream's failure when the server refused to resume it; the stream has stopped."""

    __module__ = "factstr"


class BackendError(
    EventStoreError,
    code="backend_error",
    status=503,
    title="The store failed",
):
    """Raised when the database fails; the driver's exception is the ``__cause__``."""

    __module__ = "factstr"


class AppendOutcomeUnknown(
    BackendError,
    code="append_outcome_unknown",
    title="The outcome of the append is unknown",
):
    """Raised when the connection was lost while an append committed: it may or may not be in the log.

    Never retry blindly (a retry could commit the batch twice): retry with the same ``idempotency_key``, or
    re-read the context, or use ``append_if``.
    """

    __module__ = "factstr"


class DurableStreamLost(BackendError):
    """The failure of a durable stream that lost its hold on its name, which ends the stream.

    A PostgreSQL hold lives in a database session; when that session ends (the server restarted, the
    connection was cut) another process may take the name. The stream takes the hold back before it
    handles anything more; if another holder took the name, or its stored cursor moved meanwhile, the
    stream stops with this error instead (``failure``, ``on_error``, ``wait_until``). Register again to
    resume from the stored cursor; DurableStreamActive then says whether another holder still runs.
    """

    __module__ = "factstr"


class AbandonedBatch(EventStoreError):
    """A durable batch the async consumer did not finish: the cursor stays before it; it comes again."""

    __module__ = "factstr.aio"


# The codes of the HTTP layer itself, refused before any store call, with the class a client raises for each.
register_code("unauthorized", 401, "A valid bearer token is required", BackendError)
register_code("host_not_allowed", 403, "The Host header names no address of this server", BackendError)
register_code("origin_not_allowed", 403, "A page of another origin may not change anything", BackendError)
register_code("not_found", 404, "No such route or stream", BackendError)
register_code("method_not_allowed", 405, "The method is not allowed here", BackendError)
register_code("request_timeout", 408, "The request did not arrive in time", BackendError)
register_code("payload_too_large", 413, "The request body is above the server's limit", InvalidInput)
register_code("unsupported_media_type", 415, "A request body must be JSON", InvalidInput)
register_code("too_many_streams", 429, "This client has the maximum number of open streams", BackendError)
register_code("internal_error", 500, "The server failed", BackendError)
# Namespace administration (server/_namespaces.py): refusals of a request that cannot be done as asked.
register_code("forbidden", 403, "The token does not reach this", BackendError)
register_code("namespace_exists", 409, "The namespace exists already", InvalidInput)
register_code("namespace_busy", 409, "The namespace has open streams", InvalidInput)
register_code("too_many_namespaces", 429, "The server holds its maximum of namespaces", InvalidInput)
register_code("namespaces_unsupported", 409, "This server's store cannot hold namespaces", InvalidInput)

# A client's StoreClosed means "you closed this store"; a server whose store is closed is infrastructure to it.
ERROR_CODES["store_closed"] = ERROR_CODES["store_closed"]._replace(error_class=BackendError)
