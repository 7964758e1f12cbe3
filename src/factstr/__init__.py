"""FACTSTR: an event store for facts-first event sourcing.

One append-only log of immutable facts, read by event type and payload predicates, guarded by conditional
appends, and followed by committed-batch streams. Everything public is exported here.
"""

from ._connect import connect
from ._errors import (
    CONFLICT_FACTS_LIMIT,
    AppendOutcomeUnknown,
    BackendError,
    ConditionalAppendConflict,
    DurableStreamActive,
    DurableStreamLost,
    DurableStreamMismatch,
    EmptyAppend,
    EventStoreError,
    InvalidInput,
    SchemaVersionError,
    StoreClosed,
    StreamEnded,
    UnknownDurableStream,
    UnknownNamespace,
)
from ._memory import MemoryStore
from ._model import (
    JSON,
    AppendResult,
    DurableStream,
    DurableStreamInfo,
    EventFilter,
    EventQuery,
    EventRecord,
    NewEvent,
    QueryResult,
)
from ._store import EventStore
from ._streams import EventStream
from .sqlite import SQLiteStore

__version__ = "0.1.0"

__all__ = [
    "CONFLICT_FACTS_LIMIT",
    "JSON",
    "AppendOutcomeUnknown",
    "AppendResult",
    "BackendError",
    "ConditionalAppendConflict",
    "DurableStream",
    "DurableStreamActive",
    "DurableStreamInfo",
    "DurableStreamLost",
    "DurableStreamMismatch",
    "EmptyAppend",
    "EventFilter",
    "EventQuery",
    "EventRecord",
    "EventStore",
    "EventStoreError",
    "EventStream",
    "InvalidInput",
    "MemoryStore",
    "NewEvent",
    "QueryResult",
    "SQLiteStore",
    "SchemaVersionError",
    "StoreClosed",
    "StreamEnded",
    "UnknownDurableStream",
    "UnknownNamespace",
    "__version__",
    "connect",
]


def __getattr__(name: str) -> object:
    # PostgresStore needs psycopg (the "postgres" extra): it is imported on first use, so that `import factstr`
    # (and `from factstr import *`) needs only msgspec and the standard library.
    if name == "PostgresStore":
        from .postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module 'factstr' has no attribute {name!r}")
