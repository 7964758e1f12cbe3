"""The meeting-room booking example: one holder per slot, whatever runs concurrently."""

from __future__ import annotations

import threading

import booking
import pytest

from factstr import EventStore
from factstr.projections import run_continuous


def test_concurrent_reservations_of_one_slot_let_exactly_one_win(store: EventStore) -> None:
    start = threading.Barrier(8)
    winners: list[str] = []

    def attempt(index: int) -> None:
        start.wait()
        try:
            booking.reserve(store, "Ada", "09:00", f"person {index}")
            winners.append(f"person {index}")
        except booking.SlotTaken:
            pass

    threads = [threading.Thread(target=attempt, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


def test_a_cancelled_slot_can_be_reserved_again(store: EventStore) -> None:
    first = booking.reserve(store, "Ada", "09:00", "ann")
    booking.cancel(store, first)
    booking.reserve(store, "Ada", "09:00", "ben")
    with pytest.raises(booking.SlotTaken):
        booking.reserve(store, "Ada", "09:00", "cid")


def test_only_a_standing_booking_can_be_cancelled(store: EventStore) -> None:
    with pytest.raises(booking.UnknownBooking):
        booking.cancel(store, "no-such-booking")
    made = booking.reserve(store, "Ada", "09:00", "ann", booking="b-1")
    booking.cancel(store, made)
    with pytest.raises(booking.UnknownBooking):
        booking.cancel(store, made)


def test_the_board_shows_who_holds_each_slot(store: EventStore) -> None:
    with run_continuous(store, booking.BOARD) as board:
        first = booking.reserve(store, "Ada", "09:00", "ann")
        booking.reserve(store, "Turing", "09:00", "ben")
        booking.cancel(store, first)
        head = store.head()
        assert head is not None
        assert board.wait_until(head, timeout=10)
        assert board.state == {"Ada": {}, "Turing": {"09:00": "ben"}}


def test_the_booking_example_runs() -> None:
    assert booking.main() == {"Ada": {"2030-01-07T10:00": "bob", "2030-01-07T09:00": "carol"}}
