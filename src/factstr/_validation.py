"""Input validation (C7), in one place for every store.

Each ``check_*`` function either returns the validated, normalised value a store works with or raises
:class:`~factstr.InvalidInput` saying what is wrong and where. Nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal, NamedTuple

import msgspec

from ._errors import EmptyAppend, InvalidInput
from ._matching import Filter, Filters
from ._model import JSON, DurableStream, EventFilter, EventQuery, EventRecord, NewEvent

DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_DURABLE_NAME_LENGTH = 200
MAX_JSON_DEPTH = 128
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_INFINITY = float("inf")

_encode = msgspec.json.Encoder().encode
_encode_sorted = msgspec.json.Encoder(order="sorted").encode


class PreparedEvent(NamedTuple):
    """A validated event: its type, its payload, and the payload as compact JSON text."""

    event_type: str
    payload: JSON
    payload_json: str


class PreparedQuery(NamedTuple):
    """A validated query."""

    filters: Filters
    min_sequence_number: int
    limit: int | None
    backwards: bool


def _kind(value: object) -> str:
    return type(value).__name__


def _check_text(value: object, where: str) -> str:
    if type(value) is not str:
        raise InvalidInput(f"{where} must be a str, got {_kind(value)}")
    if "\x00" in value:
        raise InvalidInput(f"{where} contains a NUL character")
    return value


def check_json(value: JSON, where: str) -> None:
    """Raise InvalidInput unless ``value`` is plain JSON (C1) that every store keeps exactly."""
    path: list[str | int] = []
    problem = _json_problem(value, path, set())
    if problem is not None:
        location = where + "".join(f"[{step!r}]" for step in path)
        raise InvalidInput(f"{location} {problem}")


def _json_problem(value: JSON, path: list[str | int], open_containers: set[int]) -> str | None:
    """Return what is wrong with ``value`` (leaving ``path`` pointing at it), or None when it is fine.

    The path is kept as a stack and formatted only on error: validation runs on every append.
    """
    kind = type(value)
    if kind is str:
        return "contains a NUL character" if "\x00" in value else None
    if kind is int:
        return None if _INT64_MIN <= value <= _INT64_MAX else "is an integer outside the signed 64-bit range"
    if kind is float:
        if value != value or value in (_INFINITY, -_INFINITY):
            return f"is {value!r}, which is not a JSON number"
        return None
    if value is None or kind is bool:
        return None
    if kind is not dict and kind is not list:
        return f"is a {_kind(value)}, which is not JSON (use dict, list, str, int, float, bool, None)"
    if len(path) >= MAX_JSON_DEPTH:
        return f"is nested deeper than {MAX_JSON_DEPTH} levels"
    identity = id(value)
    if identity in open_containers:
        return "contains itself (a cycle)"
    open_containers.add(identity)
    if kind is dict:
        for key, sub in value.items():
            if type(key) is not str:
                return f"has a key of type {_kind(key)}; JSON keys are str"
            if "\x00" in key:
                return "has a key with a NUL character"
            path.append(key)
            problem = _json_problem(sub, path, open_containers)
            if problem is not None:
                return problem
            path.pop()
    else:
        for index, sub in enumerate(value):
            path.append(index)
            problem = _json_problem(sub, path, open_containers)
            if problem is not None:
                return problem
            path.pop()
    open_containers.discard(identity)
    return None


def check_events(events: object, max_payload_bytes: int) -> list[PreparedEvent]:
    """Validate the events of one append; raise EmptyAppend first when there are none."""
    if isinstance(events, (list, tuple)):
        if not events:
            raise EmptyAppend()
    elif isinstance(events, (str, bytes, dict)) or not isinstance(events, Sequence):
        raise InvalidInput(f"events must be a list of factstr.NewEvent, got {_kind(events)}")
    elif len(events) == 0:
        raise EmptyAppend()
    prepared = []
    for index, event in enumerate(events):
        where = f"events[{index}]"
        if type(event) is not NewEvent:
            raise InvalidInput(f"{where} must be a factstr.NewEvent, got {_kind(event)}")
        event_type = _check_text(event.event_type, f"{where}.event_type")
        if not event_type:
            raise InvalidInput(f"{where}.event_type is empty")
        check_json(event.payload, f"{where}.payload")
        payload_json = _encode(event.payload)
        if len(payload_json) > max_payload_bytes:
            raise InvalidInput(
                f"{where}.payload is {len(payload_json)} bytes of JSON, above the limit of {max_payload_bytes}"
            )
        prepared.append(PreparedEvent(event_type, event.payload, payload_json.decode()))
    return prepared


def check_import_batch(records: object) -> tuple[list[NewEvent], datetime, int]:
    """Validate one exported batch: its events, its one commit time (as UTC), and its first sequence number."""
    if not isinstance(records, (list, tuple)):
        raise InvalidInput(f"records must be a list of factstr.EventRecord, got {_kind(records)}")
    if not records:
        raise EmptyAppend("import_batch needs at least one record")
    events = []
    first = records[0].sequence_number if type(records[0]) is EventRecord else 0
    occurred_at = records[0].occurred_at if type(records[0]) is EventRecord else None
    if not isinstance(occurred_at, datetime) or occurred_at.utcoffset() is None:
        raise InvalidInput("records[0].occurred_at must be a timezone-aware datetime")
    for index, record in enumerate(records):
        if type(record) is not EventRecord:
            raise InvalidInput(f"records[{index}] must be a factstr.EventRecord, got {_kind(record)}")
        if type(record.sequence_number) is not int or record.sequence_number != first + index or first < 1:
            raise InvalidInput(f"records[{index}].sequence_number must be {first + index}: one batch is consecutive")
        if record.occurred_at != occurred_at:
            raise InvalidInput(f"records[{index}].occurred_at differs: one batch has one commit time")
        events.append(NewEvent(record.event_type, record.payload))
    return events, occurred_at.astimezone(UTC), first


def check_sequence_number(value: object, where: str) -> int:
    """Validate an optional non-negative sequence number; ``None`` becomes 0."""
    if value is None:
        return 0
    if type(value) is not int:
        raise InvalidInput(f"{where} must be a non-negative int or None, got {_kind(value)}")
    if value < 0:
        raise InvalidInput(f"{where} must not be negative, got {value}")
    return value


def check_expected_version(value: object) -> int | None:
    """Validate ``expected_context_version``: None (no matching event) or a non-negative int (0 means None)."""
    version = check_sequence_number(value, "expected_context_version")
    return version or None


def check_filters(filters: object, where: str = "query.filters") -> Filters:
    """Validate and normalise the filters of a query (C2)."""
    if filters is None:
        return None
    if not isinstance(filters, (list, tuple)):
        raise InvalidInput(f"{where} must be a list of factstr.EventFilter or None, got {_kind(filters)}")
    normalised: dict[bytes, Filter] = {}
    for index, flt in enumerate(filters):
        here = f"{where}[{index}]"
        if type(flt) is not EventFilter:
            raise InvalidInput(f"{here} must be a factstr.EventFilter, got {_kind(flt)}")
        types = _check_types(flt.event_types, f"{here}.event_types")
        predicates = _check_predicates(flt.payload_predicates, f"{here}.payload_predicates")
        if types is None and predicates is None:
            return None  # this alternative matches every event, so the whole query does
        if types == () or predicates == ():
            continue  # this alternative matches no event
        flt_normalised = Filter(types, predicates)
        normalised[_encode_sorted(flt_normalised)] = flt_normalised
    if not filters:
        return None  # an empty list of filters matches everything (C2)
    return tuple(normalised[key] for key in sorted(normalised))


def _check_types(types: object, where: str) -> tuple[str, ...] | None:
    if types is None:
        return None
    if not isinstance(types, (list, tuple)):
        raise InvalidInput(f"{where} must be a list of str or None, got {_kind(types)}")
    for index, event_type in enumerate(types):
        _check_text(event_type, f"{where}[{index}]")
    return tuple(sorted(set(types)))


def _check_predicates(predicates: object, where: str) -> tuple[JSON, ...] | None:
    if predicates is None:
        return None
    if not isinstance(predicates, (list, tuple)):
        raise InvalidInput(f"{where} must be a list of JSON values or None, got {_kind(predicates)}")
    canonical: dict[bytes, JSON] = {}
    for index, predicate in enumerate(predicates):
        check_json(predicate, f"{where}[{index}]")
        value = _canonical(predicate)
        canonical[_encode_sorted(value)] = value
    return tuple(canonical[key] for key in sorted(canonical))


def _canonical(value: JSON) -> JSON:
    """Return an equivalent JSON value in one canonical form (for comparing queries by meaning)."""
    kind = type(value)
    if kind is float and value.is_integer() and _INT64_MIN <= value <= _INT64_MAX:
        return int(value)
    if kind is dict:
        return {key: _canonical(value[key]) for key in sorted(value)}
    if kind is list:
        unique = {_encode_sorted(item): item for item in (_canonical(element) for element in value)}
        return [unique[key] for key in sorted(unique)]
    return value


def check_query(query: object, where: str = "query") -> PreparedQuery:
    """Validate an EventQuery."""
    if type(query) is not EventQuery:
        raise InvalidInput(f"{where} must be a factstr.EventQuery, got {_kind(query)}")
    filters = check_filters(query.filters, f"{where}.filters")
    minimum = check_sequence_number(query.min_sequence_number, f"{where}.min_sequence_number")
    limit = None if query.limit is None else check_sequence_number(query.limit, f"{where}.limit")
    if type(query.backwards) is not bool:
        raise InvalidInput(f"{where}.backwards must be a bool, got {_kind(query.backwards)}")
    return PreparedQuery(filters, minimum, limit, query.backwards)


def check_durable_name(durable: object) -> str:
    """Validate a durable stream identity (a DurableStream or a str) and return its name."""
    name = durable.name if type(durable) is DurableStream else durable
    name = _check_text(name, "durable stream name")
    if not name:
        raise InvalidInput("durable stream name is empty")
    if len(name) > MAX_DURABLE_NAME_LENGTH:
        raise InvalidInput(f"durable stream name is longer than {MAX_DURABLE_NAME_LENGTH} characters")
    return name


def check_start(start: object) -> Literal["beginning", "end"] | int:
    """Validate where a new durable stream starts: "beginning", "end", or after a sequence number."""
    if start == "beginning" or start == "end":
        assert isinstance(start, str)
        return "beginning" if start == "beginning" else "end"
    if type(start) is not int:
        raise InvalidInput(f'start must be "beginning", "end" or a non-negative int, got {start!r}')
    return check_sequence_number(start, "start")


def filters_to_json(filters: Filters) -> str:
    """Return the canonical JSON text of validated filters: equal meaning gives equal text."""
    if filters is None:
        return "null"
    return _encode_sorted(
        [{"event_types": flt.types, "payload_predicates": flt.predicates} for flt in filters]
    ).decode()


def filters_from_json(text: str) -> Filters:
    """Read filters written by :func:`filters_to_json`."""
    raw = msgspec.json.decode(text)
    if raw is None:
        return None
    return tuple(
        Filter(
            None if item["event_types"] is None else tuple(item["event_types"]),
            None if item["payload_predicates"] is None else tuple(item["payload_predicates"]),
        )
        for item in raw
    )


def filters_to_query(filters: Filters) -> EventQuery:
    """Return the public EventQuery that validated filters came from (in canonical form)."""
    if filters is None:
        return EventQuery()
    if not filters:
        # Validation drops alternatives that match nothing; an empty list would read as "every event" (C2).
        return EventQuery(filters=[EventFilter(event_types=[])])
    return EventQuery(
        filters=[
            EventFilter(
                event_types=None if flt.types is None else list(flt.types),
                payload_predicates=None if flt.predicates is None else list(flt.predicates),
            )
            for flt in filters
        ]
    )


def check_positive_number(value: object, where: str) -> float:
    """Validate a timeout-like positive number."""
    if type(value) not in (int, float) or not value > 0:  # type: ignore[operator]
        raise InvalidInput(f"{where} must be a positive number, got {value!r}")
    return float(value)  # type: ignore[arg-type]
