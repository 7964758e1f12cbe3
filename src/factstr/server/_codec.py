"""JSON <-> factstr values, for the HTTP API and its Python client.

Requests are decoded strictly (unknown fields, wrong JSON kinds and non-integer numbers are refused) into wire
structs, then turned into factstr values; the store validates those values itself (C7), so no rule of the
contract is repeated here. Responses are encoded from factstr values; ``occurred_at`` is always written with
six fractional digits and a ``Z`` so that every client sees the same text for the same instant.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from .._model import (
    JSON,
    AppendResult,
    DurableStreamInfo,
    EventFilter,
    EventQuery,
    EventRecord,
    NewEvent,
    QueryResult,
)

T = TypeVar("T")


class FilterIn(msgspec.Struct, forbid_unknown_fields=True):
    event_types: list[str] | None = None
    payload_predicates: list[Any] | None = None


class QueryIn(msgspec.Struct, forbid_unknown_fields=True):
    filters: list[FilterIn] | None = None
    min_sequence_number: int | None = None
    limit: int | None = None
    backwards: bool = False
    max_sequence_number: int | None = None


class EventIn(msgspec.Struct, forbid_unknown_fields=True):
    event_type: str
    payload: Any


class AppendIn(msgspec.Struct, forbid_unknown_fields=True):
    events: list[EventIn]


class AppendIfIn(msgspec.Struct, forbid_unknown_fields=True):
    events: list[EventIn]
    context_query: QueryIn
    expected_context_version: int | None


class ResetIn(msgspec.Struct, forbid_unknown_fields=True):
    position: int


class AckIn(msgspec.Struct, forbid_unknown_fields=True):
    sequence_number: int


class RecordOut(msgspec.Struct):
    sequence_number: int
    occurred_at: str
    event_type: str
    payload: Any


_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}
_encoder = msgspec.json.Encoder()


def decode(data: bytes | str, kind: type[T]) -> T:
    """Decode JSON text strictly into ``kind``; raises msgspec.DecodeError / ValidationError."""
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    try:
        result: T = decoder.decode(data)
    except RecursionError as exc:
        raise msgspec.DecodeError("JSON is nested too deeply") from exc
    return result


def encode(value: object) -> bytes:
    """Encode a response value (see :func:`to_wire`) as compact JSON."""
    return _encoder.encode(to_wire(value))


def to_event_query(wire: QueryIn) -> EventQuery:
    """Return the factstr query a wire query stands for."""
    return EventQuery(
        filters=None
        if wire.filters is None
        else [EventFilter(event_types=f.event_types, payload_predicates=f.payload_predicates) for f in wire.filters],
        min_sequence_number=wire.min_sequence_number,
        limit=wire.limit,
        backwards=wire.backwards,
        max_sequence_number=wire.max_sequence_number,
    )


def to_new_events(wire: list[EventIn]) -> list[NewEvent]:
    """Return the factstr events of an append request."""
    return [NewEvent(event.event_type, event.payload) for event in wire]


def format_occurred_at(moment: datetime) -> str:
    """Write an instant as UTC ISO 8601 with microseconds: ``2026-01-31T12:00:00.000123Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def records_to_wire(records: list[EventRecord]) -> list[RecordOut]:
    """Return records in their wire form."""
    return [RecordOut(r.sequence_number, format_occurred_at(r.occurred_at), r.event_type, r.payload) for r in records]


def query_to_wire(query: EventQuery) -> dict[str, JSON]:
    """Return an EventQuery as a JSON object with every field present."""
    return {
        "filters": None
        if query.filters is None
        else [
            {
                "event_types": None if f.event_types is None else list(f.event_types),
                "payload_predicates": None if f.payload_predicates is None else list(f.payload_predicates),
            }
            for f in query.filters
        ],
        "min_sequence_number": query.min_sequence_number,
        "limit": query.limit,
        "backwards": query.backwards,
        "max_sequence_number": query.max_sequence_number,
    }


def to_wire(value: object) -> object:
    """Return a response value in a form msgspec encodes as the API's JSON."""
    if isinstance(value, QueryResult):
        return {
            "event_records": records_to_wire(value.event_records),
            "last_returned_sequence_number": value.last_returned_sequence_number,
            "current_context_version": value.current_context_version,
            "head": value.head,
        }
    if isinstance(value, DurableStreamInfo):
        return {
            "name": value.name,
            "query": query_to_wire(value.query),
            "cursor": value.cursor,
            "head": value.head,
            "lag": value.lag,
            "active": value.active,
        }
    if isinstance(value, (AppendResult, dict, list)):
        return value
    raise TypeError(f"no wire form for {type(value).__name__}")
