"""Input validation (C7), in one place for every store.

Each ``check_*`` function either returns the validated, normalised value a store works with or raises
:class:`~factstr.InvalidInput` saying what is wrong and where. Nothing here touches a database.

Everything a database could refuse is refused here first, with the same error on every store: a batch that
passed validation never fails a group commit it shares with other callers' batches. The limits (documented in
docs/concepts.md, "Limits") keep every query cheap on every store; bench/limits.py measures the worst allowed one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal, NamedTuple

import msgspec

from ._errors import EmptyAppend, InvalidInput
from ._matching import Filter, Filters
from ._model import JSON, DurableStream, EventFilter, EventQuery, EventRecord, NewEvent

DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_EVENT_TYPE_LENGTH = 256
MAX_DURABLE_NAME_LENGTH = 200
MAX_JSON_DEPTH = 128
MAX_SEQUENCE_NUMBER = 2**63 - 1
"""The largest sequence number, start, position, limit or expected version (the databases' signed bigint)."""

# Query limits. The cost of a PostgreSQL context check grows with the predicates times the event types of each
# filter (one index probe per pair), so both are capped per filter and in total; with these limits no statement
# carries more than a few hundred parameters (PostgreSQL refuses more than 65,535).
MAX_FILTERS = 32
MAX_EVENT_TYPES_PER_FILTER = 128
MAX_PREDICATES_PER_FILTER = 64
MAX_PREDICATES_PER_QUERY = 256
MAX_TYPE_PREDICATE_PAIRS = 1024
MAX_PREDICATE_DEPTH = 32
MAX_PREDICATE_BYTES = 1024

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_INFINITY = float("inf")

# Event types and durable names: Unicode scalar values (no lone surrogates) and no control characters
# (category Cc: U+0000-U+001F, U+007F-U+009F). Payload and predicate strings: any scalar value but NUL.
_NAME_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_TEXT_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")

_encode = msgspec.json.Encoder().encode
# Event types already accepted: a log has few types and every append repeats them, so each is checked once
# (the set is cleared when it holds this many, which only costs checking them again).
_ACCEPTED_TYPES_LIMIT = 4096
_accepted_types: set[str] = set()
_encode_sorted = msgspec.json.Encoder(order="sorted").encode


class PreparedEvent(NamedTuple):
    """A validated event: its type, its payload, and the payload as compact JSON text."""

    event_type: str
    payload: JSON
    payload_json: str


class Idempotency(NamedTuple):
    """A validated idempotency key and the digest of the events it was given with (their types and payloads)."""

    key: str
    digest: str


MAX_IDEMPOTENCY_KEY_LENGTH = 128
# Letters, digits and - _ . : ~ + / = : UUIDs, ULIDs, base64 and "order-17:attempt" fit, and every one travels
# unchanged in an HTTP header.
_IDEMPOTENCY_KEY = re.compile(f"[A-Za-z0-9_.:~+/=-]{{1,{MAX_IDEMPOTENCY_KEY_LENGTH}}}")


class PreparedQuery(NamedTuple):
    """A validated query: records in ``(min_sequence_number, max_sequence_number]`` (``None``: no upper bound)."""

    filters: Filters
    min_sequence_number: int
    limit: int | None
    backwards: bool
    max_sequence_number: int | None = None

    def top(self, head: int) -> int:
        """The highest number this query can see in a log whose head is ``head``."""
        bound = self.max_sequence_number
        return head if bound is None or bound > head else bound


def _kind(value: object) -> str:
    return type(value).__name__


def _character(char: str) -> str:
    """Say what a refused character is, without putting it in the message (a lone surrogate cannot be encoded)."""
    if char == "\x00":
        return "contains a NUL character"
    if "\ud800" <= char <= "\udfff":
        return f"contains a lone surrogate (U+{ord(char):04X}), which is not a Unicode character"
    return f"contains a control character (U+{ord(char):04X})"


def _text_problem(text: str) -> str | None:
    """What is wrong with a payload or predicate string (NUL or a lone surrogate), or None."""
    if text.isascii():  # the common case, and a constant-time test
        return "contains a NUL character" if "\x00" in text else None
    found = _TEXT_FORBIDDEN.search(text)
    return None if found is None else _character(found.group())


def check_name(value: object, where: str, max_length: int) -> str:
    """Validate an event type or a durable name: a non-empty str of at most ``max_length`` characters, each a
    Unicode scalar value (no lone surrogates) and none a control character (Unicode category Cc)."""
    if type(value) is not str:
        raise InvalidInput(f"{where} must be a str, got {_kind(value)}")
    if not value:
        raise InvalidInput(f"{where} is empty")
    if len(value) > max_length:
        raise InvalidInput(f"{where} is {len(value)} characters long, above the limit of {max_length}")
    found = _NAME_FORBIDDEN.search(value)
    if found is not None:
        raise InvalidInput(f"{where} {_character(found.group())}")
    return value


def check_json(value: JSON, where: str, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise InvalidInput unless ``value`` is plain JSON (C1) that every store keeps exactly."""
    if _surely_plain(value, 0, max_depth):
        return
    path: list[str | int] = []
    problem = _json_problem(value, path, set(), max_depth)
    if problem is not None:
        location = where + "".join(f"[{step!r}]" for step in path)
        raise InvalidInput(f"{location} {problem}")


def _surely_plain(value: JSON, depth: int, max_depth: int) -> bool:
    """True when ``value`` is certainly plain JSON; False means "look closely" (it may still be fine).

    Runs for every payload of every append, so the common leaves (ASCII strings, 64-bit ints, finite floats,
    bools, None) are accepted inline, without a call or a path each. Anything unusual (a refused character, an
    integer out of range, a subclass, a cycle, which ends at the depth limit) goes to :func:`_json_problem`, the
    exact rule, which finds and words the problem.
    """
    kind = type(value)
    if kind is dict:
        if depth >= max_depth:
            return False
        for key in value:
            if type(key) is not str or _TEXT_FORBIDDEN.search(key) is not None:
                return False
        children = value.values()
    elif kind is list:
        if depth >= max_depth:
            return False
        children = value
    else:
        return _json_problem(value, [], set(), max_depth) is None
    for child in children:
        child_kind = type(child)
        if child_kind is str:
            if "\x00" in child or (not child.isascii() and _TEXT_FORBIDDEN.search(child) is not None):
                return False
        elif child_kind is int:
            if not _INT64_MIN <= child <= _INT64_MAX:
                return False
        elif child_kind is float:
            if child != child or child == _INFINITY or child == -_INFINITY:
                return False
        elif child_kind is dict or child_kind is list:
            if not _surely_plain(child, depth + 1, max_depth):
                return False
        elif child is not None and child_kind is not bool:
            return False
    return True


def _json_problem(value: JSON, path: list[str | int], open_containers: set[int], max_depth: int) -> str | None:
    """Return what is wrong with ``value`` (leaving ``path`` pointing at it), or None when it is fine.

    The path is kept as a stack and formatted only on error: validation runs on every append. (A key's repr
    escapes a lone surrogate, so the message can always be encoded.)
    """
    kind = type(value)
    if kind is str:
        return _text_problem(value)
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
    if len(path) >= max_depth:
        return f"is nested deeper than the limit of {max_depth} levels"
    identity = id(value)
    if identity in open_containers:
        return "contains itself (a cycle)"
    open_containers.add(identity)
    if kind is dict:
        for key, sub in value.items():
            if type(key) is not str:
                return f"has a key of type {_kind(key)}; JSON keys are str"
            key_problem = _text_problem(key)
            if key_problem is not None:
                return "has a key that " + key_problem
            path.append(key)
            problem = _json_problem(sub, path, open_containers, max_depth)
            if problem is not None:
                return problem
            path.pop()
    else:
        for index, sub in enumerate(value):
            path.append(index)
            problem = _json_problem(sub, path, open_containers, max_depth)
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
        if type(event) is not NewEvent:
            raise InvalidInput(f"events[{index}] must be a factstr.NewEvent, got {_kind(event)}")
        event_type = event.event_type
        if type(event_type) is not str or event_type not in _accepted_types:
            check_name(event_type, f"events[{index}].event_type", MAX_EVENT_TYPE_LENGTH)
            if len(_accepted_types) >= _ACCEPTED_TYPES_LIMIT:
                _accepted_types.clear()
            _accepted_types.add(event_type)
        payload = event.payload
        if not _surely_plain(payload, 0, MAX_JSON_DEPTH):
            check_json(payload, f"events[{index}].payload")
        payload_json = _encode(payload)
        if len(payload_json) > max_payload_bytes:
            raise InvalidInput(
                f"events[{index}].payload is {len(payload_json)} bytes of JSON, above the limit of {max_payload_bytes}"
            )
        prepared.append(PreparedEvent(event_type, payload, payload_json.decode()))
    return prepared


def check_idempotency_key(key: object, events: list[PreparedEvent]) -> Idempotency | None:
    """Validate an optional idempotency key and pair it with the digest of the validated ``events``.

    The digest covers each event's type and its payload as compact JSON, in order, so a retry of the same
    batch has the same digest and another batch under the same key does not.
    """
    if key is None:
        return None
    if type(key) is not str:
        raise InvalidInput(f"idempotency_key must be a str or None, got {_kind(key)}")
    if _IDEMPOTENCY_KEY.fullmatch(key) is None:
        raise InvalidInput(
            f"idempotency_key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters, each a letter, a digit or one "
            "of - _ . : ~ + / ="
        )
    digest = hashlib.sha256()
    for event in events:
        digest.update(_encode([event.event_type, msgspec.Raw(event.payload_json.encode())]))
        digest.update(b"\n")
    return Idempotency(key, digest.hexdigest())


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
    if type(first) is not int or not 1 <= first <= MAX_SEQUENCE_NUMBER - len(records) + 1:
        raise InvalidInput(f"records[0].sequence_number must be an int from 1 to {MAX_SEQUENCE_NUMBER}")
    for index, record in enumerate(records):
        if type(record) is not EventRecord:
            raise InvalidInput(f"records[{index}] must be a factstr.EventRecord, got {_kind(record)}")
        if type(record.sequence_number) is not int or record.sequence_number != first + index:
            raise InvalidInput(f"records[{index}].sequence_number must be {first + index}: one batch is consecutive")
        if record.occurred_at != occurred_at:
            raise InvalidInput(f"records[{index}].occurred_at differs: one batch has one commit time")
        events.append(NewEvent(record.event_type, record.payload))
    return events, occurred_at.astimezone(UTC), first


def check_sequence_number(value: object, where: str) -> int:
    """Validate an optional sequence number from 0 to MAX_SEQUENCE_NUMBER (2**63 - 1); ``None`` becomes 0.

    The one rule for every number that names a position in the log: ``min_sequence_number``, ``limit``,
    ``start``, a cursor ``position`` and ``expected_context_version``.
    """
    if value is None:
        return 0
    if type(value) is not int:
        raise InvalidInput(f"{where} must be a non-negative int or None, got {_kind(value)}")
    if value < 0:
        # A huge number is not formatted: str() refuses ints of more than 4300 digits.
        shown = f", got {value}" if value >= _INT64_MIN else ""
        raise InvalidInput(f"{where} must not be negative{shown}")
    if value > MAX_SEQUENCE_NUMBER:
        raise InvalidInput(f"{where} must be at most {MAX_SEQUENCE_NUMBER} (2**63 - 1)")
    return value


def sequence_number_from_text(text: str, where: str) -> int:
    """Read a sequence number written in decimal ASCII digits (an HTTP parameter or header), by the same rule
    as :func:`check_sequence_number`, without ever converting thousands of digits."""
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput(f"{where} must be a sequence number (decimal digits)")
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(MAX_SEQUENCE_NUMBER)):
        raise InvalidInput(f"{where} must be at most {MAX_SEQUENCE_NUMBER} (2**63 - 1)")
    return check_sequence_number(int(digits), where)


def check_expected_version(value: object) -> int | None:
    """Validate ``expected_context_version``: None (no matching event) or a non-negative int (0 means None)."""
    version = check_sequence_number(value, "expected_context_version")
    return version or None


def check_filters(filters: object, where: str = "query.filters") -> Filters:
    """Validate and normalise the filters of a query (C2), within the query limits."""
    if filters is None:
        return None
    if not isinstance(filters, (list, tuple)):
        raise InvalidInput(f"{where} must be a list of factstr.EventFilter or None, got {_kind(filters)}")
    if len(filters) > MAX_FILTERS:
        raise InvalidInput(f"{where} has {len(filters)} filters, above the limit of {MAX_FILTERS}")
    normalised: dict[bytes, Filter] = {}
    matches_all = not filters  # an empty list of filters matches everything (C2)
    predicate_count = pair_count = 0
    for index, flt in enumerate(filters):
        here = f"{where}[{index}]"
        if type(flt) is not EventFilter:
            raise InvalidInput(f"{here} must be a factstr.EventFilter, got {_kind(flt)}")
        types = _check_types(flt.event_types, f"{here}.event_types")
        predicates = _check_predicates(flt.payload_predicates, f"{here}.payload_predicates")
        if predicates is not None:
            predicate_count += len(predicates)
            if predicate_count > MAX_PREDICATES_PER_QUERY:
                raise InvalidInput(
                    f"{where} has more than {MAX_PREDICATES_PER_QUERY} payload predicates in all, above the limit"
                )
            if types is not None:
                pair_count += len(types) * len(predicates)
                if pair_count > MAX_TYPE_PREDICATE_PAIRS:
                    raise InvalidInput(
                        f"{where} has more than {MAX_TYPE_PREDICATE_PAIRS} (event type, payload predicate) pairs "
                        "(each filter counts its types times its predicates), above the limit"
                    )
        if types is None and predicates is None:
            matches_all = True  # this alternative matches every event, so the whole query does
        elif types != () and predicates != ():  # else this alternative matches no event
            flt_normalised = Filter(types, predicates)
            normalised[_encode_sorted(flt_normalised)] = flt_normalised
    if matches_all:
        return None
    return tuple(normalised[key] for key in sorted(normalised))


def _check_types(types: object, where: str) -> tuple[str, ...] | None:
    if types is None:
        return None
    if not isinstance(types, (list, tuple)):
        raise InvalidInput(f"{where} must be a list of str or None, got {_kind(types)}")
    if len(types) > MAX_EVENT_TYPES_PER_FILTER:
        raise InvalidInput(f"{where} has {len(types)} event types, above the limit of {MAX_EVENT_TYPES_PER_FILTER}")
    for index, event_type in enumerate(types):
        check_name(event_type, f"{where}[{index}]", MAX_EVENT_TYPE_LENGTH)
    return tuple(sorted(set(types)))


def _check_predicates(predicates: object, where: str) -> tuple[JSON, ...] | None:
    if predicates is None:
        return None
    if not isinstance(predicates, (list, tuple)):
        raise InvalidInput(f"{where} must be a list of JSON values or None, got {_kind(predicates)}")
    if len(predicates) > MAX_PREDICATES_PER_FILTER:
        raise InvalidInput(
            f"{where} has {len(predicates)} payload predicates, above the limit of {MAX_PREDICATES_PER_FILTER}"
        )
    canonical: dict[bytes, JSON] = {}
    for index, predicate in enumerate(predicates):
        here = f"{where}[{index}]"
        check_json(predicate, here, MAX_PREDICATE_DEPTH)
        size = len(_encode(predicate))
        if size > MAX_PREDICATE_BYTES:
            raise InvalidInput(f"{here} is {size} bytes of JSON, above the limit of {MAX_PREDICATE_BYTES}")
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
    maximum = None
    if query.max_sequence_number is not None:
        maximum = check_sequence_number(query.max_sequence_number, f"{where}.max_sequence_number")
    return PreparedQuery(filters, minimum, limit, query.backwards, maximum)


def check_unbounded(query: PreparedQuery, where: str, use: str) -> Filters:
    """Refuse a query with ``max_sequence_number`` where a bound in the past cannot help; return its filters.

    A condition read "as of n" would let an append through although the context moved after n, and a stream
    delivers what is committed from now on, which an upper bound would end at once.
    """
    if query.max_sequence_number is not None:
        raise InvalidInput(f"{where}.max_sequence_number cannot be used in {use}; it bounds queries only")
    return query.filters


def check_durable_name(durable: object) -> str:
    """Validate a durable stream identity (a DurableStream or a str) and return its name (see check_name)."""
    name = durable.name if type(durable) is DurableStream else durable
    return check_name(name, "durable stream name", MAX_DURABLE_NAME_LENGTH)


def check_start(start: object) -> Literal["beginning", "end"] | int:
    """Validate where a new durable stream starts: "beginning", "end", or after a sequence number."""
    if start == "beginning" or start == "end":
        assert isinstance(start, str)
        return "beginning" if start == "beginning" else "end"
    if type(start) is not int:
        raise InvalidInput(f'start must be "beginning", "end" or a non-negative int, got {_show(start)}')
    return check_sequence_number(start, "start")


def _show(value: object) -> str:
    """A short repr for a message (a repr escapes lone surrogates; a long one is cut)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
    """Validate a timeout-like positive, finite number."""
    if type(value) is int and 0 < value <= _INT64_MAX:
        return float(value)
    if type(value) is float and 0 < value < _INFINITY:
        return value
    shown = _show(value) if type(value) is not int else "an int out of range"
    raise InvalidInput(f"{where} must be a positive number, got {shown}")
