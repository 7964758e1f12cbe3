"""Where persisted query models keep their state and cursor, together.

A :class:`StateStore` keeps one row per query model: the state as JSON text, the cursor (the last sequence
number folded into that state) and the fingerprint of the fact query the state was built from. The one write,
:meth:`StateStore.commit`, stores state and cursor in a single transaction and only if the cursor is still the
one the caller started from (compare-and-set). That is what makes a query model exactly-once: a crash
leaves either the old state with the old cursor or the new state with the new cursor, and two writers of
one model can never both fold the same events in.
"""

from __future__ import annotations

import abc
import sys
import threading
import weakref
from dataclasses import dataclass
from types import TracebackType
from typing import Any, cast

from .._errors import InvalidInput
from .._store import EventStore


@dataclass(frozen=True)
class StoredState:
    """One query model as stored: its name, query fingerprint, state as JSON, and cursor (>= 1)."""

    __module__ = "factstr.projections"

    name: str
    fingerprint: str
    state_json: bytes
    cursor: int


class StateStore(abc.ABC):
    """Persisted query-model states, one row per name. Thread-safe; close it when done."""

    __module__ = "factstr.projections"

    @abc.abstractmethod
    def load(self, name: str) -> StoredState | None:
        """Return the stored state of ``name``, or ``None`` if it has none."""

    @abc.abstractmethod
    def commit(self, state: StoredState, expected_cursor: int) -> bool:
        """Store state and cursor in one transaction if the stored cursor is ``expected_cursor``.

        ``expected_cursor`` 0 means "nothing is stored yet". Returns ``False`` (and writes nothing) when
        another writer got there first; the caller reloads and folds again from what is stored.
        """

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Forget the state of ``name`` (nothing happens if there is none)."""

    @abc.abstractmethod
    def list_states(self) -> list[StoredState]:
        """Return every stored state, sorted by name."""

    def close(self) -> None:  # noqa: B027 - most state stores hold a connection, the in-memory one does not
        """Release the connection. Idempotent."""

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class MemoryStateStore(StateStore):
    """States kept in this process, for as long as the event store they belong to (like its cursors)."""

    __module__ = "factstr.projections"

    def __init__(self, rows: dict[str, StoredState] | None = None, lock: threading.Lock | None = None) -> None:
        self._rows: dict[str, StoredState] = {} if rows is None else rows
        self._lock = threading.Lock() if lock is None else lock

    def load(self, name: str) -> StoredState | None:
        with self._lock:
            return self._rows.get(name)

    def commit(self, state: StoredState, expected_cursor: int) -> bool:
        with self._lock:
            stored = self._rows.get(state.name)
            if (0 if stored is None else stored.cursor) != expected_cursor:
                return False
            self._rows[state.name] = state
            return True

    def delete(self, name: str) -> None:
        with self._lock:
            self._rows.pop(name, None)

    def list_states(self) -> list[StoredState]:
        with self._lock:
            return sorted(self._rows.values(), key=lambda stored: stored.name)


class _SharedRows:
    def __init__(self) -> None:
        self.rows: dict[str, StoredState] = {}
        self.lock = threading.Lock()


# The in-memory states of each MemoryStore, living and dying with it.
_memory_states: weakref.WeakKeyDictionary[EventStore, _SharedRows] = weakref.WeakKeyDictionary()
_memory_states_lock = threading.Lock()


def state_store_for(store: EventStore) -> StateStore:
    """Open the state store that lives in the same database as ``store``; the caller closes it.

    SQLite: a table ``factstr_query_models`` in the same file, through its own connection. PostgreSQL: the
    same table in the store's schema, through its own connection. Memory: states kept with the store object.
    Raises InvalidInput for any other store: pass a ``state_store`` explicitly then.
    """
    from .._memory import MemoryStore

    if isinstance(store, MemoryStore):
        with _memory_states_lock:
            shared = _memory_states.get(store)
            if shared is None:
                shared = _memory_states[store] = _SharedRows()
        return MemoryStateStore(shared.rows, shared.lock)
    # A store of a kind exists only once its module was imported: looking there avoids importing drivers.
    sqlite_module = sys.modules.get("factstr.sqlite")
    if sqlite_module is not None and isinstance(store, sqlite_module.SQLiteStore):
        from ._sqlite_state import SQLiteStateStore

        return SQLiteStateStore(cast(Any, store).path)
    postgres_module = sys.modules.get("factstr.postgres")
    if postgres_module is not None and isinstance(store, postgres_module.PostgresStore):
        from ._postgres_state import PostgresStateStore

        located = cast(Any, store)
        return PostgresStateStore(located.conninfo, located.schema)
    raise InvalidInput(f"no state store is known for {type(store).__name__}; pass state_store= explicitly")
