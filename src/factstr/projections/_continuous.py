"""The continuous mode: a durable stream keeps a query model current, exactly once per event."""

from __future__ import annotations

from types import TracebackType
from typing import Generic

from .._store import EventStore
from .._streams import ErrorCallback
from ._fold import Fold
from ._model import QueryModel, S
from ._state import StateStore, state_store_for


class ContinuousQueryModel(Generic[S]):
    """A query model kept current by a durable stream named after it; see :func:`run_continuous`.

    ``state`` is the last committed state and ``position`` the last sequence number folded into it.
    """

    __module__ = "factstr.projections"

    def __init__(
        self,
        store: EventStore,
        model: QueryModel[S],
        *,
        state_store: StateStore | None = None,
        on_error: ErrorCallback | None = None,
    ) -> None:
        self.model = model
        self._owns_states = state_store is None
        self._states = state_store_for(store) if state_store is None else state_store
        try:
            self._fold = Fold(model, self._states)
            # The model's own stored cursor is the truth: it commits with the state. The durable cursor only
            # lags behind it (it is stored after the handler returned), so the stream is re-pointed at ours.
            self._stream = store.stream_to_durable(
                model.name,
                model.query,
                self._fold.apply,
                start=self._fold.snapshot.cursor,
                reset=True,
                on_error=on_error,
            )
        except BaseException:
            self._close_states()
            raise

    def __repr__(self) -> str:
        return f"<factstr.projections.ContinuousQueryModel {self.model.name!r} position={self.position!r}>"

    @property
    def state(self) -> S:
        """The last committed state."""
        return self._fold.snapshot.state

    @property
    def position(self) -> int | None:
        """The last sequence number folded into ``state``; ``None`` before any."""
        return self._fold.snapshot.cursor or None

    @property
    def failure(self) -> BaseException | None:
        """Why the model stopped (``apply`` raised, the state was not JSON, ...), or ``None``."""
        return self._stream.failure

    @property
    def running(self) -> bool:
        """Whether the model still follows the log."""
        return self._stream.running

    def wait_until(self, sequence_number: int, timeout: float | None = None) -> bool:
        """Wait until every matching fact up to ``sequence_number`` is in ``state`` (read your own writes).

        Pass the ``last_sequence_number`` of an append. Returns ``False`` on timeout or after :meth:`stop`;
        raises the failure that stopped the model.
        """
        return self._stream.wait_until(sequence_number, timeout)

    def stop(self) -> None:
        """Stop following the log; the state of every folded batch is committed. Idempotent."""
        try:
            self._stream.unsubscribe()
        finally:
            self._close_states()

    def __enter__(self) -> ContinuousQueryModel[S]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _close_states(self) -> None:
        if self._owns_states:
            self._states.close()


def run_continuous(
    store: EventStore,
    model: QueryModel[S],
    *,
    state_store: StateStore | None = None,
    on_error: ErrorCallback | None = None,
) -> ContinuousQueryModel[S]:
    """Keep ``model`` current from its facts, resuming from its stored state; stop it when done.

    The model's state and cursor live in the same database as the store (``state_store_for``) unless a
    ``state_store`` is given, and each committed batch is folded in and committed with its cursor in one
    transaction: every event counts exactly once, across crashes and restarts. The model's name is also
    the name of its durable stream, so it runs in one place at a time (DurableStreamActive otherwise).
    If ``apply`` raises, the model stops at that batch (``failure``, ``on_error``, the ``factstr``
    logger) and resumes there when run again. Raises QueryModelMismatch if the stored state was built
    from another fact query.
    """
    return ContinuousQueryModel(store, model, state_store=state_store, on_error=on_error)
