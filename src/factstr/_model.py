"""The value types of the contract (C1).

Annotations here are evaluated eagerly (no ``from __future__ import annotations``): the classes say
``__module__ = "factstr"`` for readable reprs, so tools that resolve string annotations (msgspec, hypothesis)
would look them up in the wrong module.

Values are frozen ``msgspec.Struct`` classes without GC tracking: building a million records with them was
measured at about 9x faster than frozen dataclasses (``python -m bench.records``). Payloads are plain JSON values
(``dict``/``list``/scalars); treat them as read-only.

Construction does not validate: stores validate every value they receive in one place (``_validation``), so
that a bad value gets a typed :class:`~factstr.InvalidInput` at the call that uses it.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, TypeAlias

import msgspec

JSON: TypeAlias = Any
"""What ``json.loads`` can return: None, bool, int, finite float, str, list, dict with str keys."""

Start: TypeAlias = Literal["beginning", "end"] | int


class NewEvent(msgspec.Struct, frozen=True, gc=False):
    """A fact to append: an event type and a JSON payload.

    ``event_type``: 1 to 256 characters, Unicode scalar values (no lone surrogates), no control characters.
    ``payload``: plain JSON of at most the store's ``max_payload_bytes`` (default 1 MiB), nested at most 128
    levels, integers within 64 bits, strings and keys without NUL or lone surrogates. See docs/concepts.md, "Limits".
    """

    __module__ = "factstr"

    event_type: str
    payload: JSON


class EventRecord(msgspec.Struct, frozen=True, gc=False):
    """A committed fact: its global sequence number, commit time (UTC), type and payload."""

    __module__ = "factstr"

    sequence_number: int
    occurred_at: datetime
    event_type: str
    payload: JSON


class EventFilter(msgspec.Struct, frozen=True, gc=False):
    """One alternative of a query: the type is one of ``event_types`` AND some predicate is in the payload.

    ``None`` means "any"; an empty list means "nothing". At most 128 event types (each following the event type
    rule of :class:`NewEvent`) and 64 payload predicates, each at most 1 KiB of JSON nested at most 32 levels.
    """

    __module__ = "factstr"

    event_types: Sequence[str] | None = None
    payload_predicates: Sequence[JSON] | None = None


class EventQuery(msgspec.Struct, frozen=True, gc=False):
    """Which facts to read: any of ``filters`` (``None`` or empty: every fact), after ``min_sequence_number``.

    ``limit`` caps the number of returned records and ``backwards`` returns the newest first; neither changes
    ``current_context_version``. ``max_sequence_number`` (inclusive) reads the log as it was at that
    number: records and ``current_context_version`` stop there; ``append_if`` and streams refuse it.
    Numbers go from 0 to 2**63 - 1. A query has at most 32 filters, 256 payload predicates in all, and
    1,024 (event type, predicate) pairs (each filter counts its types times its predicates); beyond a limit
    every store raises InvalidInput. See docs/concepts.md, "Limits".
    """

    __module__ = "factstr"

    filters: Sequence[EventFilter] | None = None
    min_sequence_number: int | None = None
    limit: int | None = None
    backwards: bool = False
    max_sequence_number: int | None = None


class QueryResult(msgspec.Struct, frozen=True, gc=False):
    """The records a query returned, the last returned number, the context's current version, and the head.

    ``head`` is the log's highest sequence number (``None``: empty) in the snapshot the records were read from,
    so "everything up to ``head`` has been seen" holds without a second call that could see a later state.
    """

    __module__ = "factstr"

    event_records: list[EventRecord]
    last_returned_sequence_number: int | None
    current_context_version: int | None
    head: int | None


class AppendResult(msgspec.Struct, frozen=True, gc=False):
    """The consecutive range of sequence numbers an append committed."""

    __module__ = "factstr"

    first_sequence_number: int
    last_sequence_number: int
    committed_count: int


class DurableStream(msgspec.Struct, frozen=True, gc=False):
    """The identity of a stored stream cursor. A plain ``str`` is accepted wherever one is expected.

    ``name``: 1 to 200 characters, Unicode scalar values (no lone surrogates), no control characters.
    """

    __module__ = "factstr"

    name: str


class DurableStreamInfo(msgspec.Struct, frozen=True, gc=False):
    """A stored durable cursor: its query, the last handled number, the log head, the lag, and whether held."""

    __module__ = "factstr"

    name: str
    query: EventQuery
    cursor: int | None
    head: int | None
    lag: int
    active: bool
