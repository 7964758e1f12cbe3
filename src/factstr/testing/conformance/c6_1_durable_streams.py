"""Conformance tests of C6.1: durable streams (see docs/contract.md)."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from ..._errors import DurableStreamActive, DurableStreamMismatch, UnknownDurableStream
from ..._model import DurableStream, EventFilter, EventQuery
from ..._store import EventStore
from .._backends import Backend
from .._helpers import Recorder, event, query, seed


def test_durable_stream_replays_history_keeping_batch_boundaries(store: EventStore) -> None:
    """C6.1: a new durable stream replays from the beginning, batch by batch."""
    seed(store)
    recorder = Recorder()
    with store.stream_all_durable("replayer", recorder) as stream:
        assert stream.wait_until(5, timeout=10)
    assert recorder.batch_numbers == [[1, 2], [3], [4, 5]]


def test_durable_filtered_replay_keeps_batches(store: EventStore) -> None:
    """C6.1: replayed matching events stay grouped by their committed batch."""
    seed(store)
    recorder = Recorder()
    with store.stream_to_durable("accounts-a", query(predicates=[{"account": "a"}]), recorder) as stream:
        assert stream.wait_until(5, timeout=10)
    assert recorder.batch_numbers == [[1], [3], [5]]


def test_large_batch_is_replayed_whole(store: EventStore) -> None:
    """C6.1: a batch bigger than any read chunk is still one call."""
    store.append([event("bulk", {"i": i}) for i in range(2500)])
    store.append([event("after")])
    recorder = Recorder()
    with store.stream_all_durable("bulk", recorder) as stream:
        assert stream.wait_until(2501, timeout=30)
    assert [len(batch) for batch in recorder.batches] == [2500, 1]


def test_durable_replay_continues_live_with_no_gap_or_duplicate(store: EventStore) -> None:
    """C6.1: replay then live, with appends racing the registration, delivers each event once."""
    store.append([event("e", {"i": i}) for i in range(3)])
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            store.append([event("e"), event("e")])

    thread = threading.Thread(target=writer)
    thread.start()
    recorder = Recorder()
    try:
        time.sleep(0.02)
        stream = store.stream_all_durable("seam", recorder)
        time.sleep(0.1)
    finally:
        stop.set()
        thread.join()
    head = store.head()
    assert head is not None
    assert stream.wait_until(head, timeout=20)
    stream.unsubscribe()
    assert recorder.numbers == list(range(1, head + 1))
    assert all(len(batch) == 2 for batch in recorder.batches[1:])


def test_durable_stream_resumes_after_its_cursor(store: EventStore) -> None:
    """C6.1: registering again replays only what came after the stored cursor."""
    seed(store)
    first = Recorder()
    with store.stream_all_durable("resumer", first) as stream:
        assert stream.wait_until(5, timeout=10)
    store.append([event("later")])
    second = Recorder()
    with store.stream_all_durable(DurableStream("resumer"), second) as stream:
        assert stream.wait_until(6, timeout=10)
    assert second.batch_numbers == [[6]]


def test_cursor_is_stored_when_unsubscribe_returns(store: EventStore) -> None:
    """C6: after unsubscribe() every handled batch has its cursor stored (repeated: it used to race)."""
    seed(store)
    for round_ in range(10):
        recorder = Recorder()
        stream = store.stream_to_durable("stored", query(types=["deposited"]), recorder)
        last = store.append([event("deposited", {"round": round_})]).last_sequence_number
        assert recorder.wait_for_number(last)
        stream.unsubscribe()
        info = store.durable_stream("stored")
        assert info is not None and info.cursor == last, f"round {round_}: cursor {info and info.cursor} != {last}"


def test_failing_durable_handler_stops_at_the_failed_batch(store: EventStore, caplog: pytest.LogCaptureFixture) -> None:
    """C6.1: the stream stops, the cursor stays at the last handled batch, the failure is reported."""
    seed(store)
    reported: list[BaseException] = []
    recorder = Recorder(fail_when=lambda batch: batch[0].sequence_number == 3)
    with caplog.at_level(logging.WARNING, logger="factstr"):
        stream = store.stream_all_durable("fragile", recorder, on_error=reported.append)
        with pytest.raises(RuntimeError):
            stream.wait_until(5, timeout=10)
    assert recorder.batch_numbers == [[1, 2]]
    assert isinstance(stream.failure, RuntimeError) and reported == [stream.failure]
    info = store.durable_stream("fragile")
    assert info is not None and info.cursor == 2 and info.active is False
    assert any(r.levelno >= logging.WARNING for r in caplog.records)


def test_durable_stream_resumes_at_the_failed_batch(store: EventStore) -> None:
    """C6.1: registering again after a failure starts with the batch that failed."""
    seed(store)
    failing = Recorder(fail_when=lambda batch: batch[0].sequence_number == 3)
    stream = store.stream_all_durable("retry", failing)
    with pytest.raises(RuntimeError):
        stream.wait_until(5, timeout=10)
    stream.unsubscribe()
    recovered = Recorder()
    with store.stream_all_durable("retry", recovered) as again:
        assert again.wait_until(5, timeout=10)
    assert recovered.batch_numbers == [[3], [4, 5]]


def test_new_durable_stream_can_start_at_the_end(store: EventStore) -> None:
    """C6.1: start="end" skips history."""
    seed(store)
    recorder = Recorder()
    with store.stream_all_durable("tail", recorder, start="end") as stream:
        store.append([event("new")])
        assert stream.wait_until(6, timeout=10)
    assert recorder.batch_numbers == [[6]]


def test_new_durable_stream_can_start_after_a_number(store: EventStore) -> None:
    """C6.1: start=n handles what comes after n."""
    seed(store)
    recorder = Recorder()
    with store.stream_all_durable("from-3", recorder, start=3) as stream:
        assert stream.wait_until(5, timeout=10)
    assert recorder.batch_numbers == [[4, 5]]


def test_start_is_ignored_when_a_cursor_is_stored(store: EventStore) -> None:
    """C6.4: start applies only to a name without a stored cursor (or with reset)."""
    seed(store)
    with store.stream_all_durable("kept", Recorder()) as stream:
        assert stream.wait_until(5, timeout=10)
    store.append([event("x")])
    recorder = Recorder()
    with store.stream_all_durable("kept", recorder, start=0) as stream:
        assert stream.wait_until(6, timeout=10)
    assert recorder.numbers == [6]


def test_reset_restarts_from_start_and_replaces_the_query(store: EventStore) -> None:
    """C6.4: reset=True applies start and replaces a different query."""
    seed(store)
    with store.stream_to_durable("r", query(types=["opened"]), Recorder()) as stream:
        assert stream.wait_until(5, timeout=10)
    recorder = Recorder()
    with store.stream_to_durable("r", query(types=["closed"]), recorder, reset=True) as stream:
        assert stream.wait_until(5, timeout=10)
    assert recorder.numbers == [5]


def test_durable_stream_with_another_query_raises_mismatch(store: EventStore) -> None:
    """C6.1: re-registering a name with a different query raises DurableStreamMismatch."""
    with store.stream_to_durable("m", query(types=["a"]), Recorder()):
        pass
    with pytest.raises(DurableStreamMismatch):
        store.stream_to_durable("m", query(types=["b"]), Recorder())
    with pytest.raises(DurableStreamMismatch):
        store.stream_all_durable("m", Recorder())
    store.stream_to_durable("m", query(types=["a"]), Recorder()).unsubscribe()


def test_durable_queries_are_compared_by_meaning(store: EventStore) -> None:
    """C6.1: the same query written differently is not a mismatch."""
    first = EventQuery(
        filters=[
            EventFilter(event_types=["b", "a"], payload_predicates=[{"n": 1.0, "k": ["y", "x"]}]),
            EventFilter(event_types=["c"]),
        ]
    )
    second = EventQuery(
        filters=[
            EventFilter(event_types=["c", "c"]),
            EventFilter(event_types=["a", "b"], payload_predicates=[{"k": ["x", "y", "x"], "n": 1}]),
        ],
        min_sequence_number=7,
    )
    with store.stream_to_durable("meaning", first, Recorder()):
        pass
    store.stream_to_durable("meaning", second, Recorder()).unsubscribe()
    with store.stream_to_durable("everything", EventQuery(filters=None), Recorder()):
        pass
    store.stream_to_durable("everything", EventQuery(filters=[]), Recorder()).unsubscribe()
    store.stream_all_durable("everything", Recorder()).unsubscribe()


def test_second_holder_of_a_durable_name_raises_active(store: EventStore) -> None:
    """C6.1: one name is active in one place at a time."""
    with store.stream_all_durable("single", Recorder()):
        with pytest.raises(DurableStreamActive):
            store.stream_all_durable("single", Recorder())
        info = store.durable_stream("single")
        assert info is not None and info.active
    with store.stream_all_durable("single", Recorder()):
        pass
    info = store.durable_stream("single")
    assert info is not None and not info.active


def test_durable_name_is_held_across_handles(backend: Backend) -> None:
    """C6.1: the hold excludes other handles (other processes) on the same database."""
    if not backend.shares_database:
        pytest.skip("this store has no second handle on the same database")
    first, second = backend.open(), backend.open()
    stream = first.stream_all_durable("shared", Recorder())
    with pytest.raises(DurableStreamActive):
        second.stream_all_durable("shared", Recorder())
    info = second.durable_stream("shared")
    assert info is not None and info.active
    first.close()
    assert stream.running is False
    second.stream_all_durable("shared", Recorder()).unsubscribe()


def test_durable_cursor_survives_reopening(backend: Backend) -> None:
    """C6.1: SQLite and PostgreSQL cursors survive a restart."""
    if not backend.persistent:
        pytest.skip("memory-store cursors live as long as the store object")
    store = backend.open()
    seed(store)
    with store.stream_all_durable("survivor", Recorder()) as stream:
        assert stream.wait_until(5, timeout=10)
    store.close()
    reopened = backend.open()
    reopened.append([event("after-restart")])
    recorder = Recorder()
    with reopened.stream_all_durable("survivor", recorder) as stream:
        assert stream.wait_until(6, timeout=10)
    assert recorder.numbers == [6]


def test_durable_streams_are_listed_and_inspected_with_lag(store: EventStore) -> None:
    """C6.1, C6.4: cursors can be listed and inspected (name, query, cursor, head, lag, active)."""
    seed(store)
    with store.stream_to_durable("b-deposits", query(types=["deposited"]), Recorder()) as stream:
        assert stream.wait_until(5, timeout=10)
    store.stream_all_durable("a-new", Recorder()).unsubscribe()
    store.reset_durable_stream("a-new", 2)
    infos = store.durable_streams()
    assert [info.name for info in infos] == ["a-new", "b-deposits"]
    a_new, deposits = infos
    assert (a_new.cursor, a_new.head, a_new.lag, a_new.active) == (2, 5, 3, False)
    assert (deposits.cursor, deposits.head, deposits.lag) == (5, 5, 0)
    assert deposits.query == EventQuery(filters=[EventFilter(event_types=["deposited"])])
    assert store.durable_stream("missing") is None


def test_unhandled_durable_stream_has_no_cursor(store: EventStore) -> None:
    """C6.4: cursor is None while nothing was handled, and lag counts it as 0."""
    seed(store)
    failing = Recorder(fail_when=lambda batch: True)
    stream = store.stream_all_durable("none-yet", failing)
    assert failing.wait_for_calls(1)
    stream.unsubscribe()
    info = store.durable_stream("none-yet")
    assert info is not None and (info.cursor, info.lag) == (None, 5)


def test_reset_durable_stream_moves_the_cursor(store: EventStore) -> None:
    """C6.4: reset_durable_stream(name, n): the next registration resumes after n."""
    seed(store)
    with store.stream_all_durable("rewind", Recorder()) as stream:
        assert stream.wait_until(5, timeout=10)
    store.reset_durable_stream("rewind", 2)
    recorder = Recorder()
    with store.stream_all_durable("rewind", recorder) as stream:
        assert stream.wait_until(5, timeout=10)
    assert recorder.batch_numbers == [[3], [4, 5]]
    with pytest.raises(UnknownDurableStream):
        store.reset_durable_stream("never-registered", 1)


def test_cursor_admin_refuses_an_active_name(store: EventStore) -> None:
    """C6.4: reset and delete raise DurableStreamActive while the name is held."""
    with store.stream_all_durable("busy", Recorder()):
        with pytest.raises(DurableStreamActive):
            store.reset_durable_stream("busy", 0)
        with pytest.raises(DurableStreamActive):
            store.delete_durable_stream("busy")


def test_delete_durable_stream_forgets_the_cursor(store: EventStore) -> None:
    """C6.4: a deleted name starts afresh (from the beginning) when registered again."""
    seed(store)
    with store.stream_all_durable("gone", Recorder()) as stream:
        assert stream.wait_until(5, timeout=10)
    store.delete_durable_stream("gone")
    store.delete_durable_stream("gone")
    assert store.durable_stream("gone") is None
    recorder = Recorder()
    with store.stream_to_durable("gone", query(types=["closed"]), recorder) as stream:
        assert stream.wait_until(5, timeout=10)
    assert recorder.numbers == [5]


def test_durable_commits_through_another_handle_are_delivered(backend: Backend) -> None:
    """C6: commits through another handle reach durable streams too."""
    if not backend.shares_database:
        pytest.skip("this store has no second handle on the same database")
    reader, writer = backend.open(), backend.open()
    recorder = Recorder()
    with reader.stream_all_durable("cross", recorder):
        writer.append([event("a")])
        writer.append([event("b"), event("c")])
        assert recorder.wait_for_number(3)
    assert recorder.batch_numbers == [[1], [2, 3]]


__all__ = sorted(name for name in dict(globals()) if name.startswith("test_"))
