"""The on-demand mode: state and cursor are persisted, and the model catches up before it answers."""

from __future__ import annotations

from types import TracebackType
from typing import Generic

from .._store import EventStore
from ._catch_up import catch_up
from ._fold import Fold
from ._model import QueryModel, S
from ._state import StateStore, state_store_for


class OnDemandQueryModel(Generic[S]):
    """A persisted query model that reads the facts committed since its cursor each time it is asked.

    Cheap when asked rarely: nothing runs in between. Every event counts exactly once in the stored state,
    whoever catches up (several processes may share one model). Close it to release its connection.
    """

    __module__ = "factstr.projections"

    def __init__(self, store: EventStore, model: QueryModel[S], *, state_store: StateStore | None = None) -> None:
        self.model = model
        self._store = store
        self._owns_states = state_store is None
        self._states = state_store_for(store) if state_store is None else state_store
        try:
            self._fold = Fold(model, self._states)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"<factstr.projections.OnDemandQueryModel {self.model.name!r} position={self.position!r}>"

    def read(self) -> S:
        """Catch up with every fact committed before this call, commit, and return the state."""
        return catch_up(self._store, self.model.query, self._fold).state

    @property
    def position(self) -> int | None:
        """The last sequence number folded into the state as of the last read; ``None`` before any."""
        return self._fold.snapshot.cursor or None

    def close(self) -> None:
        """Release the state store if this object opened it. Idempotent."""
        if self._owns_states:
            self._states.close()

    def __enter__(self) -> OnDemandQueryModel[S]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
