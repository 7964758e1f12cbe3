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
"""

from __future__ import annotations

from collections.abc import Sequence

from ._model import EventRecord


class EventStoreError(Exception):
    """Base class of every error raised by FACTSTR."""

    __module__ = "factstr"


CONFLICT_FACTS_LIMIT = 100
"""At most this many facts travel with a ConditionalAppendConflict (the oldest ones; ``truncated`` says so)."""


class ConditionalAppendConflict(EventStoreError):
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


class DurableStreamActive(EventStoreError):
    """Raised when a durable name is already held by another stream, in this or another process."""

    __module__ = "factstr"


class InvalidInput(EventStoreError):
    """Raised for arguments that break the contract or a documented limit; says what and where. Nothing is committed."""

    __module__ = "factstr"


class EmptyAppend(InvalidInput):
    """Raised by ``append`` and ``append_if`` when given no events."""

    __module__ = "factstr"

    def __init__(self, message: str = "append needs at least one event") -> None:
        super().__init__(message)


class DurableStreamMismatch(InvalidInput):
    """Raised when a durable name is registered with a query that differs from its stored one."""

    __module__ = "factstr"


class UnknownDurableStream(InvalidInput):
    """Raised by cursor admin calls that need a stored cursor when the name has none."""

    __module__ = "factstr"


class UnknownNamespace(InvalidInput):
    """Raised by a client of a server namespace that does not exist (or was dropped)."""

    __module__ = "factstr"


class StoreClosed(EventStoreError):
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


class BackendError(EventStoreError):
    """Raised when the database fails; the driver's exception is the ``__cause__``."""

    __module__ = "factstr"


class AppendOutcomeUnknown(BackendError):
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
