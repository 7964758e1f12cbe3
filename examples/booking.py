"""Meeting-room booking: reserve and cancel slots, and a board showing who has which room when.

A slot is the context of a reservation: the facts about one room at one time. Reserving checks that the
slot is free in the facts it read and appends with ``append_if`` against their version, so two people can
never both get the same slot, even at the same moment. A query model keeps the booking board.

Run it: ``python examples/booking.py``.
"""

from __future__ import annotations

import uuid
from typing import Any

from factstr import (
    ConditionalAppendConflict,
    EventFilter,
    EventQuery,
    EventRecord,
    EventStore,
    MemoryStore,
    NewEvent,
)
from factstr.projections import QueryModel, build_inline, run_continuous

SLOT_EVENTS = ["SlotReserved", "ReservationCancelled"]


class BookingError(Exception):
    """A booking command was refused."""


class SlotTaken(BookingError):
    """Someone else holds this slot."""


class UnknownBooking(BookingError):
    """No such booking, or it was cancelled already."""


def slot_facts(room: str, slot: str) -> EventQuery:
    """The context of a reservation: every fact about this room at this time."""
    return EventQuery(filters=[EventFilter(event_types=SLOT_EVENTS, payload_predicates=[{"room": room, "slot": slot}])])


def holder_of(records: list[EventRecord]) -> str | None:
    """The booking that currently holds a slot, folded from the slot's facts."""
    holder = None
    for record in records:
        if record.event_type == "SlotReserved":
            holder = record.payload["booking"]
        elif record.payload["booking"] == holder:
            holder = None
    return holder


def reserve(store: EventStore, room: str, slot: str, by: str, *, booking: str | None = None) -> str:
    """Reserve a free slot for ``by``; return the booking id. Raises SlotTaken if it is held."""
    booking = booking or uuid.uuid4().hex
    context = slot_facts(room, slot)
    while True:
        facts = store.query(context)
        if holder_of(facts.event_records) is not None:
            raise SlotTaken(f"{room} at {slot}")
        reserved = NewEvent("SlotReserved", {"room": room, "slot": slot, "booking": booking, "by": by})
        try:
            store.append_if([reserved], context, facts.current_context_version)
        except ConditionalAppendConflict:
            continue  # the slot changed since we looked: look again
        return booking


def cancel(store: EventStore, booking: str) -> None:
    """Cancel a booking that still holds its slot. Raises UnknownBooking otherwise."""
    made = store.query(
        EventQuery(filters=[EventFilter(event_types=["SlotReserved"], payload_predicates=[{"booking": booking}])])
    ).event_records
    if not made:
        raise UnknownBooking(booking)
    room, slot = made[0].payload["room"], made[0].payload["slot"]
    context = slot_facts(room, slot)
    while True:
        facts = store.query(context)
        if holder_of(facts.event_records) != booking:
            raise UnknownBooking(booking)
        cancelled = NewEvent("ReservationCancelled", {"room": room, "slot": slot, "booking": booking})
        try:
            store.append_if([cancelled], context, facts.current_context_version)
        except ConditionalAppendConflict:
            continue
        return


def apply_board(board: dict[str, dict[str, str]], records: list[EventRecord]) -> dict[str, dict[str, str]]:
    """The booking board: for each room, who holds which slot."""
    updated = {room: dict(slots) for room, slots in board.items()}
    for record in records:
        room, slot = record.payload["room"], record.payload["slot"]
        if record.event_type == "SlotReserved":
            updated.setdefault(room, {})[slot] = record.payload["by"]
        else:
            updated[room].pop(slot, None)
    return updated


BOARD: QueryModel[dict[str, dict[str, str]]] = QueryModel(
    "booking.board", EventQuery(filters=[EventFilter(event_types=SLOT_EVENTS)]), {}, apply_board
)


def main() -> dict[str, Any]:
    """Book, collide, cancel and rebook, then print the board."""
    with MemoryStore() as store, run_continuous(store, BOARD) as board:
        first = reserve(store, "Ada", "2030-01-07T09:00", "alice")
        reserve(store, "Ada", "2030-01-07T10:00", "bob")
        try:
            reserve(store, "Ada", "2030-01-07T09:00", "carol")
        except SlotTaken as taken:
            print("refused:", taken)
        cancel(store, first)
        reserve(store, "Ada", "2030-01-07T09:00", "carol")
        head = store.head()
        assert head is not None
        board.wait_until(head, timeout=10)
        print("board:", board.state)
        # The same model can be built inline, from a query, when nothing needs to be kept.
        assert build_inline(store, BOARD) == board.state
        return board.state


if __name__ == "__main__":
    main()
