"""The one wire format of the HTTP API: every request and response body as a msgspec Struct.

The server decodes requests into these Structs and encodes its answers from them; the Python client encodes
its requests and decodes the answers with the same Structs; the CLI writes its JSON lines with them; and the
OpenAPI document's schemas are generated from them (:func:`schema_components`), so the documented shapes and
the served ones cannot drift apart. The names are the OpenAPI component names.

Requests are decoded strictly (unknown fields, wrong JSON kinds and non-integer numbers are refused); the
store validates the values themselves (C7), so no rule of the contract is repeated here. ``occurred_at`` is
always written with six fractional digits and a ``Z`` so that every client sees the same text for an instant.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from . import _model
from ._errors import ERROR_CODES

T = TypeVar("T")

_SEQUENCE_NUMBER = msgspec.Meta(
    ge=1, description="A global sequence number (JSON integer; exact in JavaScript up to 2^53 - 1)."
)
SequenceNumber = Annotated[int, _SEQUENCE_NUMBER]
_POSITION_TEXT = "A position in the log: everything up to and including this number (0: before the first)."
Position = Annotated[int, msgspec.Meta(ge=0, description=_POSITION_TEXT)]
OptionalSequenceNumber = Annotated[int, msgspec.Meta(ge=1)] | None


def _documented(description: str | None = None, **schema: Any) -> msgspec.Meta:
    """A request field's documented bounds, not enforced when decoding: the store checks values itself (C7),
    so that a bad value gets the store's own error, saying what and where."""
    return msgspec.Meta(description=description, extra_json_schema=schema or None)


# --- requests ---------------------------------------------------------------------------------------------


class NewEvent(msgspec.Struct, forbid_unknown_fields=True):
    """A fact to append."""

    event_type: Annotated[str, _documented("Case-sensitive; no NUL.", minLength=1)]
    payload: Annotated[Any, _documented("Any JSON value; strings and keys without NUL; integers in int64.")]


class EventFilter(msgspec.Struct, forbid_unknown_fields=True):
    """One alternative of a query: the type part AND the payload part must match (C2). `null` (or absent) means any; `[]` means nothing."""  # noqa: E501

    event_types: list[str] | None = None
    payload_predicates: list[Any] | None = None


class EventQuery(msgspec.Struct, forbid_unknown_fields=True):
    """Which facts to read: any of `filters` (null or [] = every fact), after a position."""

    filters: list[EventFilter] | None = None
    min_sequence_number: (
        Annotated[
            int, _documented("Exclusive lower bound (null or 0: from the start); append_if ignores it.", minimum=0)
        ]
        | None
    ) = None
    limit: Annotated[int, _documented(minimum=0)] | None = None
    backwards: Annotated[bool, _documented("Newest first.")] = False
    max_sequence_number: (
        Annotated[
            int,
            _documented(
                "Inclusive upper bound (null: none): the log as it was at that number, records and "
                "current_context_version alike. Refused (422) by append_if and streams.",
                minimum=0,
            ),
        ]
        | None
    ) = None


class AppendRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The events of one batch."""

    events: list[NewEvent]


class AppendIfRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The events of one batch and the condition they are committed under."""

    events: list[NewEvent]
    context_query: EventQuery
    expected_context_version: (
        Annotated[int, _documented("null (or 0): no matching event is expected.", minimum=0)] | None
    )


class ResetRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The new cursor of a durable stream."""

    position: Annotated[int, _documented(_POSITION_TEXT, minimum=0)]


class AckRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The last handled sequence number of a durable stream, with the stream's newest acknowledgement token.

    `stream_token` is the `id` of the newest message the stream delivered (its `ready`, a batch or a progress
    message); it proves to any server that this number was delivered to this stream. Required by
    POST /streams/durable/{name}/ack; POST /streams/{stream_id}/ack (same server only) ignores it.
    """

    sequence_number: Annotated[int, _documented(_POSITION_TEXT, minimum=0)]
    stream_token: str | None = None


# --- responses --------------------------------------------------------------------------------------------


class EventRecord(msgspec.Struct):
    """A committed fact."""

    sequence_number: SequenceNumber
    occurred_at: Annotated[
        str,
        msgspec.Meta(
            extra_json_schema={"format": "date-time"},
            description="Commit time in UTC with six fractional digits: 2026-01-31T12:00:00.000123Z.",
        ),
    ]
    event_type: str
    payload: Any


class QueryResult(msgspec.Struct):
    """Records and versions from one snapshot."""

    event_records: list[EventRecord]
    last_returned_sequence_number: OptionalSequenceNumber
    current_context_version: Annotated[
        OptionalSequenceNumber,
        msgspec.Meta(
            description="Highest matching number in the log, whatever min_sequence_number says "
            "(at or below max_sequence_number, when given)."
        ),
    ]
    head: Annotated[
        OptionalSequenceNumber,
        msgspec.Meta(description="The log's head in the snapshot the records come from (null: empty log)."),
    ]


class AppendResult(msgspec.Struct):
    """The committed range."""

    first_sequence_number: SequenceNumber
    last_sequence_number: SequenceNumber
    committed_count: Annotated[int, msgspec.Meta(ge=1)]


class Head(msgspec.Struct):
    """The highest committed sequence number."""

    head: Annotated[OptionalSequenceNumber, msgspec.Meta(description="null for an empty log.")]


class DurableStreamInfo(msgspec.Struct):
    """A stored durable cursor."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    query: EventQuery
    cursor: Annotated[
        OptionalSequenceNumber, msgspec.Meta(description="Last fully handled number; null: nothing handled yet.")
    ]
    head: OptionalSequenceNumber
    lag: Annotated[int, msgspec.Meta(ge=0, description="head minus cursor (null counts as 0).")]
    active: Annotated[bool, msgspec.Meta(description="Held by a stream somewhere (any process).")]


class DurableStreamList(msgspec.Struct):
    """Every stored durable cursor, sorted by name."""

    durable_streams: list[DurableStreamInfo]


class StreamReady(msgspec.Struct):
    """Data of the first SSE message (`event: ready`) of every stream."""

    stream_id: Annotated[
        str, msgspec.Meta(description="For POST /streams/{id}/ack and DELETE /streams/{id} on the same server.")
    ]
    kind: Literal["live", "durable"]
    durable_name: str | None
    position: Annotated[
        int,
        msgspec.Meta(ge=0, description="The stream starts after this number (a durable stream: its stored cursor)."),
    ]
    heartbeat_seconds: float
    stream_token: Annotated[
        str | None,
        msgspec.Meta(
            description="A durable stream's first acknowledgement token (also the message's `id`); null for a live one."
        ),
    ] = None


class Progress(msgspec.Struct):
    """Data of a `progress` message: the stream read the log up to `position` and owes nothing up to it."""

    position: Position


class StreamEnd(msgspec.Struct):
    """Data of the `end` message."""

    reason: str


class Health(msgspec.Struct):
    """Serving."""

    status: Literal["ok"]
    head: OptionalSequenceNumber


class Problem(msgspec.Struct):
    """An error answer (RFC 9457 `application/problem+json`) with FACTSTR's stable `code` as an extension member.

    Branch on `code`, never on `title`, `detail` or `message`: those are for people and may change.
    """

    type: Annotated[str, msgspec.Meta(description="`urn:factstr:error:<code>`.")]
    title: str
    status: int
    detail: str
    code: Annotated[
        Literal[tuple(ERROR_CODES)],  # type: ignore[valid-type]
        msgspec.Meta(description="Stable; branch on this, not on the message."),
    ]
    message: Annotated[str, msgspec.Meta(description="The same text as `detail` (clients before RFC 9457 read it).")]
    # UNSET (absent from the answer) unless the problem is a conditional append conflict.
    expected: Annotated[
        OptionalSequenceNumber | msgspec.UnsetType, msgspec.Meta(description="Only with conditional_append_conflict.")
    ] = msgspec.UNSET
    actual: Annotated[
        OptionalSequenceNumber | msgspec.UnsetType, msgspec.Meta(description="Only with conditional_append_conflict.")
    ] = msgspec.UNSET
    facts: Annotated[
        list[EventRecord] | msgspec.UnsetType,
        msgspec.Meta(
            description="Only with conditional_append_conflict: the context's facts after `expected` up to "
            "`actual`, oldest first, at most 100, read in the transaction that found the conflict."
        ),
    ] = msgspec.UNSET
    truncated: Annotated[
        bool | msgspec.UnsetType,
        msgspec.Meta(description="Only with conditional_append_conflict: more facts than the 100 in `facts`."),
    ] = msgspec.UNSET


COMPONENTS: tuple[type[msgspec.Struct], ...] = (
    NewEvent,
    EventFilter,
    EventQuery,
    EventRecord,
    QueryResult,
    AppendRequest,
    AppendIfRequest,
    AppendResult,
    Head,
    DurableStreamInfo,
    DurableStreamList,
    ResetRequest,
    AckRequest,
    StreamReady,
    Progress,
    StreamEnd,
    Health,
    Problem,
)
"""Every Struct of the API, in the order of the OpenAPI document's components."""


def schema_components() -> dict[str, Any]:
    """The JSON Schemas of :data:`COMPONENTS`, keyed by their names, referring to each other by ``$ref``."""
    _, components = msgspec.json.schema_components(COMPONENTS, ref_template="#/components/schemas/{name}")
    for schema in components.values():
        schema.pop("title", None)
    return components


# --- encoding and decoding --------------------------------------------------------------------------------

_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
_encoder = msgspec.json.Encoder()
encode = _encoder.encode


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


# --- factstr values <-> wire ------------------------------------------------------------------------------


def format_occurred_at(moment: datetime) -> str:
    """Write an instant as UTC ISO 8601 with microseconds: ``2026-01-31T12:00:00.000123Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def records_to_wire(records: Iterable[_model.EventRecord]) -> list[EventRecord]:
    """Return records in their wire form."""
    return [EventRecord(r.sequence_number, format_occurred_at(r.occurred_at), r.event_type, r.payload) for r in records]


def query_to_wire(query: _model.EventQuery) -> EventQuery:
    """Return a factstr query in its wire form, every field present."""
    return EventQuery(
        filters=None
        if query.filters is None
        else [
            EventFilter(
                event_types=None if f.event_types is None else list(f.event_types),
                payload_predicates=None if f.payload_predicates is None else list(f.payload_predicates),
            )
            for f in query.filters
        ],
        min_sequence_number=query.min_sequence_number,
        limit=query.limit,
        backwards=query.backwards,
        max_sequence_number=query.max_sequence_number,
    )


def query_from_wire(wire: EventQuery) -> _model.EventQuery:
    """Return the factstr query a wire query stands for."""
    return _model.EventQuery(
        filters=None
        if wire.filters is None
        else [
            _model.EventFilter(event_types=f.event_types, payload_predicates=f.payload_predicates) for f in wire.filters
        ],
        min_sequence_number=wire.min_sequence_number,
        limit=wire.limit,
        backwards=wire.backwards,
        max_sequence_number=wire.max_sequence_number,
    )


def events_from_wire(wire: list[NewEvent]) -> list[_model.NewEvent]:
    """Return the factstr events of an append request."""
    return [_model.NewEvent(event.event_type, event.payload) for event in wire]


def query_result_to_wire(result: _model.QueryResult) -> QueryResult:
    """Return a query result in its wire form."""
    return QueryResult(
        records_to_wire(result.event_records),
        result.last_returned_sequence_number,
        result.current_context_version,
        result.head,
    )


def append_result_to_wire(result: _model.AppendResult) -> AppendResult:
    """Return an append result in its wire form."""
    return AppendResult(result.first_sequence_number, result.last_sequence_number, result.committed_count)


def info_to_wire(info: _model.DurableStreamInfo) -> DurableStreamInfo:
    """Return a stored durable cursor in its wire form."""
    return DurableStreamInfo(info.name, query_to_wire(info.query), info.cursor, info.head, info.lag, info.active)
