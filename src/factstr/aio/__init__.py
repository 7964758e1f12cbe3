"""The asyncio face of FACTSTR: any store, awaitable, with streams as async iterators.

The stores are synchronous and thread-safe; :class:`AsyncEventStore` runs each call in a worker thread so
that an event loop (FastAPI, Starlette, plain asyncio) never blocks on the database, and bridges each stream's
committed batches into an :class:`AsyncEventStream`. No store logic lives here: the guarantees are the
wrapped store's.
"""

from .._errors import AbandonedBatch
from ._store import AsyncEventStore
from ._stream import AsyncEventStream

__all__ = ["AbandonedBatch", "AsyncEventStore", "AsyncEventStream"]
