"""Conformance tests of C6: streams (see docs/contract.md)."""

from __future__ import annotations

import logging
import threading

import pytest

from ..._errors import StoreClosed
from ..._model import EventQuery, EventRecord
from ..._store import EventStore
from ..._streams import EventStream
from .._backends import Backend
from .._helpers import Recorder, event, query


def test_live_stream_receives_only_batches_committed_after_registration(store: EventStore) -> None:
    """C6: a live stream replays nothing."""
    store.append([event("before")])
    recorder = Recorder()
    with store.stream_all(recorder):
        store.append([event("after")])
        assert recorder.wait_for_number(2)
    assert recorder.batch_numbers == [[2]]


def test_a_batch_is_delivered_whole_in_one_call(store: EventStore) -> None:
    """C6: one committed batch is one handler call holding exactly that batch, in order."""
    recorder = Recorder()
    with store.stream_all(recorder):
        store.append([event("a", {"i": i}) for i in range(50)])
        store.append([event("b")])
        assert recorder.wait_for_number(51)
    assert recorder.batch_numbers == [list(range(1, 51)), [51]]
    assert [r.payload["i"] for r in recorder.batches[0]] == list(range(50))


def test_filtered_stream_gets_only_the_matching_part_of_a_mixed_batch(store: EventStore) -> None:
    """C6: a batch is delivered as the matching events of that batch only."""
    recorder = Recorder()
    with store.stream_to(query(types=["wanted"]), recorder):
        store.append([event("wanted", {"i": 1}), event("other"), event("wanted", {"i": 2})])
        assert recorder.wait_for_number(3)
    assert recorder.batch_numbers == [[1, 3]]


def test_batch_without_matching_event_produces_no_call(store: EventStore) -> None:
    """C6: a batch with no matching event produces no call."""
    recorder = Recorder()
    with store.stream_to(query(types=["wanted"]), recorder) as stream:
        store.append([event("other")])
        store.append([event("wanted")])
        assert recorder.wait_for_number(2)
        assert stream.wait_until(2, timeout=10)
    assert recorder.calls == 1
    assert recorder.batch_numbers == [[2]]


def test_batches_arrive_in_commit_order(store: EventStore) -> None:
    """C6: delivery is in commit order."""
    recorder = Recorder()
    with store.stream_all(recorder):
        for i in range(30):
            store.append([event("e", {"i": i})])
        assert recorder.wait_for_number(30)
    assert recorder.numbers == list(range(1, 31))


def test_two_streams_each_get_their_own_copy(store: EventStore) -> None:
    """C6: several streams each receive every batch."""
    first, second = Recorder(), Recorder()
    with store.stream_all(first), store.stream_to(query(types=["a"]), second):
        store.append([event("a"), event("b")])
        store.append([event("a")])
        assert first.wait_for_number(3)
        assert second.wait_for_number(3)
    assert first.batch_numbers == [[1, 2], [3]]
    assert second.batch_numbers == [[1], [3]]


def test_failing_live_handler_is_reported_and_the_stream_goes_on(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    """C6, C6.3: a live handler that raises is logged and reported; the next batch is delivered."""
    reported: list[BaseException] = []
    recorder = Recorder(fail_when=lambda batch: batch[0].event_type == "poison")
    with (
        caplog.at_level(logging.WARNING, logger="factstr"),
        store.stream_all(recorder, on_error=reported.append) as stream,
    ):
        store.append([event("poison")])
        store.append([event("fine")])
        assert recorder.wait_for_number(2)
        assert isinstance(stream.failure, RuntimeError)
    assert recorder.batch_numbers == [[2]]
    assert len(reported) == 1 and reported[0] is stream.failure
    assert any(r.levelno >= logging.WARNING and r.name.startswith("factstr") for r in caplog.records)


def test_failing_handler_affects_neither_appends_nor_other_streams(store: EventStore) -> None:
    """C6: a failing handler delays or affects only its own stream."""
    healthy = Recorder()
    broken = Recorder(fail_when=lambda batch: True)
    with store.stream_all(broken), store.stream_all(healthy):
        for i in range(5):
            assert store.append([event("e", {"i": i})]).first_sequence_number == i + 1
        assert healthy.wait_for_number(5)
        assert broken.wait_for_calls(5)
    assert healthy.numbers == [1, 2, 3, 4, 5]


def test_slow_handler_delays_neither_appends_nor_other_streams(store: EventStore) -> None:
    """C6: a slow handler delays only its own stream."""
    release = threading.Event()

    def slow(batch: list[EventRecord]) -> None:
        release.wait(20)

    fast = Recorder()
    with store.stream_all(slow), store.stream_all(fast):
        for i in range(20):
            store.append([event("e", {"i": i})])
        assert fast.wait_for_number(20)
        release.set()


def test_unsubscribe_stops_delivery_and_is_idempotent(store: EventStore) -> None:
    """C6: after unsubscribe() returns the handler is not called again; calling it twice is fine."""
    stopped, witness = Recorder(), Recorder()
    stream = store.stream_all(stopped)
    with store.stream_all(witness):
        store.append([event("a")])
        assert stopped.wait_for_number(1)
        stream.unsubscribe()
        stream.unsubscribe()
        store.append([event("b")])
        assert witness.wait_for_number(2)
    assert stopped.numbers == [1]


def test_unsubscribe_from_inside_the_handler(store: EventStore) -> None:
    """C6: a handler may unsubscribe its own stream; it is not called again."""
    calls: list[int] = []
    holder: list[EventStream] = []
    registered = threading.Event()

    def handler(batch: list[EventRecord]) -> None:
        registered.wait(10)
        calls.append(batch[0].sequence_number)
        holder[0].unsubscribe()

    holder.append(store.stream_all(handler))
    registered.set()
    store.append([event("a")])
    assert holder[0].wait_until(1, timeout=10) or calls == [1]
    witness = Recorder()
    with store.stream_all(witness):
        store.append([event("b")])
        assert witness.wait_for_number(2)
    assert calls == [1]
    assert holder[0].running is False


def test_stream_context_manager_unsubscribes(store: EventStore) -> None:
    """C6: an EventStream is a context manager."""
    recorder, witness = Recorder(), Recorder()
    with store.stream_all(witness):
        with store.stream_all(recorder):
            store.append([event("a")])
            assert recorder.wait_for_number(1)
        store.append([event("b")])
        assert witness.wait_for_number(2)
    assert recorder.numbers == [1]


def test_close_stops_streams_and_later_calls_raise_store_closed(backend: Backend) -> None:
    """C6, C8: close() stops every stream; the store then raises StoreClosed."""
    store = backend.open()
    recorder = Recorder()
    store.stream_all(recorder)
    store.append([event("a")])
    assert recorder.wait_for_number(1)
    store.close()
    store.close()
    with pytest.raises(StoreClosed):
        store.append([event("b")])
    with pytest.raises(StoreClosed):
        store.query(EventQuery())
    with pytest.raises(StoreClosed):
        store.stream_all(recorder)
    assert recorder.numbers == [1]


def test_stream_ignores_min_sequence_number(store: EventStore) -> None:
    """C6: min_sequence_number in a stream's query is ignored."""
    recorder = Recorder()
    with store.stream_to(query(types=["a"], min_sequence_number=1000), recorder):
        store.append([event("a")])
        assert recorder.wait_for_number(1)


def test_commits_through_another_handle_reach_live_streams(backend: Backend) -> None:
    """C6: commits made through another handle (as by another process) reach live streams."""
    if not backend.shares_database:
        pytest.skip("this store has no second handle on the same database")
    reader, writer = backend.open(), backend.open()
    recorder = Recorder()
    with reader.stream_to(query(types=["a"]), recorder):
        writer.append([event("a"), event("b"), event("a")])
        assert recorder.wait_for_number(3)
    assert recorder.batch_numbers == [[1, 3]]


def test_wait_until_reports_progress(store: EventStore) -> None:
    """C6.4: wait_until(n) is True once everything up to n is handled, False on timeout."""
    recorder = Recorder()
    with store.stream_to(query(types=["a"]), recorder) as stream:
        result = store.append([event("b"), event("a")])
        assert stream.wait_until(result.last_sequence_number, timeout=10)
        assert recorder.numbers == [2]
        assert stream.position is not None and stream.position >= 2
        assert stream.wait_until(99, timeout=0.05) is False


__all__ = sorted(name for name in dict(globals()) if name.startswith("test_"))
