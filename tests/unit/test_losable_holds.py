"""The stream runtime with a hold that can be lost: confirmed before every batch, a lost one stops the stream."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from factstr import BackendError, DurableStreamLost, EventRecord, MemoryStore, NewEvent
from factstr._streams import LosableHold

WAIT = 10.0


class FakeHold:
    """A hold whose confirm() fails as the test says: lost (DurableStreamLost) or unreachable (BackendError)."""

    def __init__(self) -> None:
        self.lost = False
        self.unreachable = False
        self.confirmed: list[int] = []
        self.releases = 0

    def confirm(self, stored_cursor: int) -> None:
        if self.lost:
            raise DurableStreamLost("lost (test)")
        if self.unreachable:
            raise BackendError("unreachable (test)")
        self.confirmed.append(stored_cursor)

    def release(self) -> None:
        self.releases += 1


def store_with(hold: FakeHold) -> MemoryStore:
    store = MemoryStore(poll_interval=0.02)
    store._acquire_hold = lambda name: hold  # type: ignore[method-assign, assignment, return-value]
    return store


def test_the_fake_is_a_losable_hold() -> None:
    assert isinstance(FakeHold(), LosableHold)


def test_a_lost_hold_stops_the_stream_before_the_next_batch(caplog: pytest.LogCaptureFixture) -> None:
    hold = FakeHold()
    store = store_with(hold)
    store.append([NewEvent("t", 1)])
    store.append([NewEvent("t", 2)])
    handled: list[int] = []
    errors: list[BaseException] = []

    def handler(batch: list[EventRecord]) -> None:
        handled.extend(record.sequence_number for record in batch)
        hold.lost = True  # lost while this batch is handled: the next one must not be

    with caplog.at_level(logging.WARNING, logger="factstr"):
        stream = store.stream_all_durable("d", handler, on_error=errors.append)
        with pytest.raises(DurableStreamLost):
            stream.wait_until(2, WAIT)
    assert handled == [1] and not stream.running
    assert len(errors) == 1 and stream.failure is errors[0]
    assert hold.releases == 1
    assert any("lost its hold" in record.getMessage() for record in caplog.records)
    # The name's cursor belongs to its next holder: a stream that lost it stores nothing more.
    info = store.durable_stream("d")
    assert info is not None and info.cursor is None
    store.close()


def test_nothing_is_handled_while_the_hold_cannot_be_confirmed() -> None:
    hold = FakeHold()
    store = store_with(hold)
    handled: list[int] = []
    with store.stream_all_durable("d", lambda batch: handled.extend(r.sequence_number for r in batch)) as stream:
        hold.unreachable = True
        store.append([NewEvent("t", 1)])
        time.sleep(0.3)
        assert handled == [] and stream.running
        hold.unreachable = False
        assert stream.wait_until(1, WAIT)
    assert handled == [1]
    # Confirmed before each read and each batch, always with the last cursor the stream stored.
    assert hold.confirmed and set(hold.confirmed) <= {0, 1}
    store.close()


def test_holds_that_cannot_be_lost_are_not_confirmed() -> None:
    store = MemoryStore()
    calls = threading.Event()
    with store.stream_all_durable("d", lambda batch: calls.set()) as stream:
        assert stream._losable is None
        store.append([NewEvent("t", 1)])
        assert calls.wait(WAIT)
    store.close()
