"""What a feature declares: a query model (name, fact query, initial state, pure apply) and its snapshots."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgspec

from .._errors import InvalidInput
from .._model import EventQuery, EventRecord
from .._validation import check_durable_name, check_query, filters_to_json

S = TypeVar("S")


class QueryModelMismatch(InvalidInput):
    """Raised when a query model's stored state was built with another fact query: rebuild it."""

    __module__ = "factstr.projections"


class QueryModelReset(InvalidInput):
    """Raised in a running query model when its stored state was reset or rebuilt under it."""

    __module__ = "factstr.projections"


@dataclass(frozen=True, eq=False)
class QueryModel(Generic[S]):
    """A feature's query model: the facts it needs and how they fold into its state.

    ``name`` identifies the stored state and is the name of the continuous mode's durable stream, so it follows
    the rules of durable names (1 to 200 characters) and no other durable stream may use it. ``query`` selects
    the facts; it may not set ``min_sequence_number``, ``limit`` or ``backwards``. ``apply(state, records)``
    returns the next state and must be pure: it gets the records in sequence order, and it must not depend on
    how they are grouped into lists (a continuous model gets committed batches, the other modes get pages of a
    query).

    Persisted modes (continuous and on-demand) store the state as JSON with msgspec: it must be made of dicts
    with ``str`` keys, lists, strings, numbers, booleans and ``None``, or of types msgspec can encode (e.g.
    ``msgspec.Struct`` or dataclasses) with ``state_type`` naming the type to decode it back to. The state a
    persisted mode hands out is always the decoded JSON, so it is the same before and after a restart.
    """

    name: str
    query: EventQuery
    initial: S
    apply: Callable[[S, list[EventRecord]], S]
    state_type: Any = field(default=None, kw_only=True)

    __module__ = "factstr.projections"

    def __post_init__(self) -> None:
        check_durable_name(self.name)
        prepared = check_query(self.query, "QueryModel.query")
        if (
            prepared.min_sequence_number
            or prepared.limit is not None
            or prepared.backwards
            or prepared.max_sequence_number is not None
        ):
            raise InvalidInput(
                "QueryModel.query may not set min_sequence_number, max_sequence_number, limit or backwards"
            )
        if not callable(self.apply):
            raise InvalidInput(f"QueryModel.apply must be callable, got {type(self.apply).__name__}")

    def __repr__(self) -> str:
        return f"<factstr.projections.QueryModel {self.name!r}>"

    @property
    def fingerprint(self) -> str:
        """The canonical JSON of the fact query: equal meaning gives equal text (stored with the state)."""
        return filters_to_json(check_query(self.query).filters)

    def fresh_state(self) -> S:
        """Return a private copy of ``initial``, so that an apply that mutates cannot change the model."""
        return copy.deepcopy(self.initial)


class StateCodec(Generic[S]):
    """Encode a query model's state to JSON and decode it back, with a clear error for what is not JSON."""

    def __init__(self, model: QueryModel[S]) -> None:
        self._name = model.name
        self._encoder = msgspec.json.Encoder()
        self._decoder: msgspec.json.Decoder[Any] = (
            msgspec.json.Decoder() if model.state_type is None else msgspec.json.Decoder(model.state_type)
        )

    def encode(self, state: S) -> bytes:
        try:
            return self._encoder.encode(state)
        except (TypeError, ValueError, msgspec.EncodeError) as exc:
            message = f"the state of query model {self._name!r} is not JSON-serialisable: {exc}"
            raise InvalidInput(message) from exc

    def decode(self, data: bytes) -> S:
        try:
            state: S = self._decoder.decode(data)
        except msgspec.DecodeError as exc:
            message = f"the stored state of query model {self._name!r} does not decode: {exc}"
            raise InvalidInput(message) from exc
        return state


@dataclass(frozen=True)
class Snapshot(Generic[S]):
    """A query model's state with its cursor: the last sequence number folded into it (0: none yet)."""

    state: S
    cursor: int
