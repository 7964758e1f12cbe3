"""The exactly-once step every persisted mode shares: fold records in, commit state and cursor together."""

from __future__ import annotations

import threading
from typing import Generic

from .._model import EventRecord
from ._model import QueryModel, QueryModelMismatch, QueryModelReset, S, Snapshot, StateCodec
from ._state import StateStore, StoredState


class Fold(Generic[S]):
    """A query model's persisted state, advanced by folding records in, each event exactly once.

    Each :meth:`apply` folds only the records after the stored cursor, then commits the new state and its
    cursor in one transaction, guarded by the cursor it started from. If another writer (another process,
    an on-demand read, a rebuild) moved the cursor first, it reloads the stored state and folds again what
    is still new.
    ``snapshot`` is always the last committed state, decoded from its JSON.
    """

    def __init__(self, model: QueryModel[S], states: StateStore) -> None:
        self._model = model
        self._states = states
        self._codec = StateCodec(model)
        self._fingerprint = model.fingerprint
        self._lock = threading.Lock()
        self.snapshot = self.reload()

    def reload(self) -> Snapshot[S]:
        """Read the stored state (the initial state when none is stored) and make it the snapshot."""
        stored = self._states.load(self._model.name)
        if stored is None:
            # Round-trip the initial state too, so that every state handed out is plain decoded JSON.
            snapshot = Snapshot(self._codec.decode(self._codec.encode(self._model.fresh_state())), 0)
        elif stored.fingerprint != self._fingerprint:
            raise QueryModelMismatch(f"query model {self._model.name!r} was stored with another fact query; rebuild it")
        else:
            snapshot = Snapshot(self._codec.decode(stored.state_json), stored.cursor)
        self.snapshot = snapshot
        return snapshot

    def apply(self, records: list[EventRecord]) -> Snapshot[S]:
        """Fold the records after the cursor into the state and commit both; return the new snapshot.

        Raises QueryModelReset if the stored cursor moved backwards (a reset or rebuild happened meanwhile):
        records before the given ones may then be missing, so the caller must read again from the cursor.
        """
        with self._lock:
            while True:
                current = self.snapshot
                fresh = [record for record in records if record.sequence_number > current.cursor]
                if not fresh:
                    return current
                state = self._model.apply(current.state, fresh)
                cursor = fresh[-1].sequence_number
                data = self._codec.encode(state)
                stored = StoredState(self._model.name, self._fingerprint, data, cursor)
                if self._states.commit(stored, current.cursor):
                    self.snapshot = Snapshot(self._codec.decode(data), cursor)
                    return self.snapshot
                if self.reload().cursor < current.cursor:
                    raise QueryModelReset(
                        f"the stored state of query model {self._model.name!r} was reset while it ran"
                    )
