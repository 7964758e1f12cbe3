"""The one reference matcher (C2) and payload leaves (what the Memory store indexes).

Every store decides "does this event match" with :func:`query_matches`. Index structures (posting lists, the
SQLite term table, PostgreSQL's ``@>``) only narrow the candidates; the final word is always this module's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from ._model import JSON


class Filter(NamedTuple):
    """A validated filter: ``types`` sorted and unique (``None``: any), ``predicates`` (``None``: any).

    Normalisation drops filters that can match nothing, so neither part is ever empty here.
    """

    types: tuple[str, ...] | None
    predicates: tuple[JSON, ...] | None


Filters = tuple[Filter, ...] | None
"""A validated query: ``None`` matches every event, an empty tuple matches none, otherwise any filter."""


def json_contains(predicate: JSON, value: JSON) -> bool:
    """Return whether ``predicate`` is a subset of ``value`` under the rules of C2."""
    kind = type(predicate)
    if kind is dict:
        if type(value) is not dict:
            return False
        for key, sub in predicate.items():
            if key not in value or not json_contains(sub, value[key]):
                return False
        return True
    if kind is list:
        if type(value) is not list:
            return False
        return all(any(json_contains(sub, element) for element in value) for sub in predicate)
    if kind is str:
        return type(value) is str and value == predicate
    if kind is bool:
        return type(value) is bool and value is predicate
    if kind is int or kind is float:
        value_kind = type(value)
        return (value_kind is int or value_kind is float) and value == predicate
    return predicate is None and value is None


def filter_matches(flt: Filter, event_type: str, payload: JSON) -> bool:
    """Return whether one validated filter matches an event."""
    if flt.types is not None and event_type not in flt.types:
        return False
    if flt.predicates is None:
        return True
    return any(json_contains(predicate, payload) for predicate in flt.predicates)


def query_matches(filters: Filters, event_type: str, payload: JSON) -> bool:
    """Return whether validated filters match an event: no filters match all, else any filter."""
    if filters is None:
        return True
    return any(filter_matches(flt, event_type, payload) for flt in filters)


# --- payload leaves ------------------------------------------------------------------------------------------
#
# A leaf is one scalar of a JSON document with the path that leads to it, where every array step is the same
# marker (array containment ignores positions). If a predicate is contained in a payload, every leaf of the
# predicate is a leaf of the payload; the converse does not hold, so index hits are always rechecked. (The
# SQLite store hashes its own terms the same way: factstr.sqlite._terms.)

_ARRAY_STEP = 0  # an int never collides with an object key, which is always a str


def _scalar_text(value: JSON) -> str:
    kind = type(value)
    if kind is str:
        return f"s{value}"
    if kind is bool:
        return "b1" if value else "b0"
    if kind is int:
        return f"n{value}"
    if kind is float:
        # 1 and 1.0 are the same number (C2), so they must be the same term.
        text: str = str(int(value)) if value.is_integer() else repr(value)
        return "n" + text
    return "z"


def payload_leaves(value: JSON, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Yield every term of a JSON value as (path, scalar text)."""
    kind = type(value)
    if kind is dict:
        for key, sub in value.items():
            yield from payload_leaves(sub, (*path, key))
    elif kind is list:
        step = (*path, _ARRAY_STEP)
        for element in value:
            yield from payload_leaves(element, step)
    else:
        yield path, _scalar_text(value)
