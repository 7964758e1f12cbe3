"""Query models shared by the tests (importable by subprocesses too: only factstr is needed)."""

from __future__ import annotations

from typing import Any

from factstr import EventFilter, EventQuery, EventRecord, NewEvent
from factstr.projections import QueryModel

COUNTED = EventQuery(filters=[EventFilter(event_types=["Counted"])])


def counted(n: int) -> NewEvent:
    """One fact carrying the number ``n``."""
    return NewEvent("Counted", {"n": n})


def add_up(state: dict[str, Any], records: list[EventRecord]) -> dict[str, Any]:
    """Count the facts and add up their numbers: any fact folded twice or missed shows in both."""
    return {
        "count": state["count"] + len(records),
        "sum": state["sum"] + sum(record.payload["n"] for record in records),
    }


INITIAL: dict[str, Any] = {"count": 0, "sum": 0}


def expected(numbers: range) -> dict[str, int]:
    """The state after folding every number once."""
    return {"count": len(numbers), "sum": sum(numbers)}


LOADABLE: QueryModel[dict[str, Any]] = QueryModel("loadable", COUNTED, INITIAL, add_up)
