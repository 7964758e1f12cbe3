"""Streams over server-sent events: one message per batch, resumable, acknowledged, ended cleanly."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.parse

import httpx
import pytest

from factstr import EventRecord, NewEvent
from factstr.server._app import server_state
from factstr.server._sse import ServerStream

from .conftest import SSE, Served, append, serve


def test_ready_comes_first_and_says_where_delivery_starts(served: Served) -> None:
    append(served, "a")
    with served.http.stream("GET", "/streams/live") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event, data, _ = SSE(response).next()
    assert event == "ready"
    assert (data["kind"], data["durable_name"], data["position"]) == ("live", None, 1)


def test_one_message_per_committed_batch_with_its_last_number_as_id(served: Served) -> None:
    with served.http.stream("GET", "/streams/live") as response:
        sse = SSE(response)
        sse.next_of("ready")
        append(served, "a", "b")
        append(served, "c")
        first = sse.next_of("message")
        second = sse.next_of("message")
    assert (first[2], [r["sequence_number"] for r in first[1]]) == ("2", [1, 2])
    assert (second[2], [r["event_type"] for r in second[1]]) == ("3", ["c"])


def test_filtered_stream_sends_progress_for_batches_that_did_not_match(served: Served) -> None:
    query = urllib.parse.quote(json.dumps({"filters": [{"event_types": ["wanted"]}]}))
    with served.http.stream("GET", f"/streams/live?query={query}") as response:
        sse = SSE(response)
        sse.next_of("ready")
        append(served, "other")
        event, data, event_id = sse.next_of("message", "progress")
    assert (event, data, event_id) == ("progress", {"position": 1}, "1")


def test_last_event_id_resumes_with_no_gap_or_duplicate_and_whole_batches(served: Served) -> None:
    append(served, "a")
    append(served, "b", "c")
    append(served, "d")
    with served.http.stream("GET", "/streams/live", headers={"Last-Event-ID": "1"}) as response:
        sse = SSE(response)
        assert sse.next_of("ready")[1]["position"] == 1
        batches = [sse.next_of("message")[1], sse.next_of("message")[1]]
    assert [[r["sequence_number"] for r in batch] for batch in batches] == [[2, 3], [4]]


def test_start_beginning_replays_the_log(served: Served) -> None:
    append(served, "a")
    with served.http.stream("GET", "/streams/live?start=beginning") as response:
        sse = SSE(response)
        sse.next_of("ready")
        assert [r["sequence_number"] for r in sse.next_of("message")[1]] == [1]


def test_heartbeats_are_comments_while_idle(served: Served) -> None:
    with served.http.stream("GET", "/streams/live") as response:
        lines = response.iter_lines()
        started = time.monotonic()
        heartbeats = 0
        for line in lines:
            if line == ": heartbeat":
                heartbeats += 1
                if heartbeats == 2:
                    break
        elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 5  # two heartbeats 0.3 s apart, no earlier


def test_durable_stream_holds_its_name_while_open(served: Served) -> None:
    with served.http.stream("GET", "/streams/durable/holder") as response:
        sse = SSE(response)  # keep it: dropping the line iterator closes the response
        sse.next_of("ready")
        second = served.http.get("/streams/durable/holder")
        assert (second.status_code, second.json()["code"]) == (409, "durable_stream_active")
        assert served.store.durable_stream("holder").active  # type: ignore[union-attr]
    _wait_released(served, "holder")


def _delivered(event_id: str | None) -> int:
    """The number a durable stream's message delivered up to: the middle of its token, ``<stream>.<n>.<mac>``."""
    assert event_id is not None
    return int(event_id.split(".")[1])


def _wait_released(served: Served, name: str) -> None:
    deadline = time.monotonic() + 10
    while served.store.durable_stream(name).active:  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the durable name was not released after the client left"
        time.sleep(0.02)


def test_durable_cursor_moves_only_with_acknowledgements(served: Served) -> None:
    append(served, "a")
    append(served, "b")
    with served.http.stream("GET", "/streams/durable/acked") as response:
        sse = SSE(response)
        stream_id = sse.next_of("ready")[1]["stream_id"]
        assert _delivered(sse.next_of("message")[2]) == 1
        assert served.http.post(f"/streams/{stream_id}/ack", json={"sequence_number": 1}).status_code == 204
        assert _delivered(sse.next_of("message")[2]) == 2
        # Batch 2 is not acknowledged: closing the stream leaves it unhandled.
        assert served.http.delete(f"/streams/{stream_id}").status_code == 204
        assert sse.next_of("end")[1] == {"reason": "unsubscribed"}
    info = served.store.durable_stream("acked")
    assert info is not None and (info.cursor, info.active) == (1, False)


def test_durable_client_leaving_without_ack_keeps_the_cursor(served: Served) -> None:
    append(served, "a")
    with served.http.stream("GET", "/streams/durable/leaver") as response:
        sse = SSE(response)
        sse.next_of("ready")
        sse.next_of("message")
    _wait_released(served, "leaver")
    assert served.store.durable_stream("leaver").cursor is None  # type: ignore[union-attr]


def test_durable_mismatch_and_reset(served: Served) -> None:
    with served.store.stream_all_durable("m", lambda batch: None):
        pass
    query = urllib.parse.quote(json.dumps({"filters": [{"event_types": ["x"]}]}))
    refused = served.http.get(f"/streams/durable/m?query={query}")
    assert (refused.status_code, refused.json()["code"]) == (409, "durable_stream_mismatch")
    with served.http.stream("GET", f"/streams/durable/m?query={query}&reset=true&start=end") as response:
        sse = SSE(response)
        assert sse.next_of("ready")[1]["kind"] == "durable"


def test_delete_of_an_unknown_stream_is_404(served: Served) -> None:
    response = served.http.delete("/streams/nope")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_graceful_shutdown_ends_streams_and_releases_durable_names() -> None:
    generator = serve()
    served = next(generator)
    ended: list[object] = []

    def follow(path: str) -> None:
        with httpx.Client(base_url=served.url, timeout=10) as client, client.stream("GET", path) as response:
            sse = SSE(response)
            sse.next_of("ready")
            ready.release()
            ended.append(sse.next_of("end")[1])

    ready = threading.Semaphore(0)
    threads = [threading.Thread(target=follow, args=(p,)) for p in ("/streams/live", "/streams/durable/d")]
    for thread in threads:
        thread.start()
    for _ in threads:
        assert ready.acquire(timeout=10)
    started = time.monotonic()
    served.server.stop()
    for thread in threads:
        thread.join(10)
    assert ended == [{"reason": "shutdown"}, {"reason": "shutdown"}]
    assert time.monotonic() - started < 4, "shutdown waited for the streams instead of ending them"
    assert served.store.durable_stream("d").active is False  # type: ignore[union-attr]
    with pytest.raises(StopIteration):
        next(generator)


def test_a_slow_reader_blocks_neither_appends_nor_other_streams() -> None:
    for served in serve(stream_buffer_bytes=4096):
        with served.http.stream("GET", "/streams/live") as response:
            sse = SSE(response)
            sse.next_of("ready")  # then never read again: the socket buffers and the queue fill up
            received: list[list[EventRecord]] = []
            with served.store.stream_all(received.append) as witness:
                started = time.monotonic()
                for i in range(300):
                    served.store.append([NewEvent("e", {"i": i, "pad": "x" * 2000})])
                assert time.monotonic() - started < 10
                assert witness.wait_until(300, timeout=10)


def test_an_acknowledgement_above_what_the_stream_delivered_is_refused_and_changes_nothing(served: Served) -> None:
    with served.http.stream("GET", "/streams/durable/overreach") as response:
        sse = SSE(response)
        stream_id = sse.next_of("ready")[1]["stream_id"]
        refused = served.http.post(f"/streams/{stream_id}/ack", json={"sequence_number": 10**12})
        assert (refused.status_code, refused.json()["code"]) == (422, "invalid_input")
        for _ in range(60):
            append(served, "e")
        assert _delivered(sse.next_of("message")[2]) == 1
        beyond = served.http.post(f"/streams/{stream_id}/ack", json={"sequence_number": 61})
        assert (beyond.status_code, beyond.json()["code"]) == (422, "invalid_input")
        assert served.http.delete(f"/streams/{stream_id}").status_code == 204
    info = served.store.durable_stream("overreach")
    assert info is not None and info.cursor is None
    with served.http.stream("GET", "/streams/durable/overreach") as response:
        sse = SSE(response)
        assert sse.next_of("ready")[1]["position"] == 0
        assert _delivered(sse.next_of("message")[2]) == 1


def test_an_acknowledgement_at_or_below_the_stored_cursor_changes_nothing(served: Served) -> None:
    append(served, "a")
    append(served, "b")
    with served.http.stream("GET", "/streams/durable/repeat") as response:
        sse = SSE(response)
        stream_id = sse.next_of("ready")[1]["stream_id"]
        assert _delivered(sse.next_of("message")[2]) == 1
        assert _delivered(sse.next_of("message")[2]) == 2
        for number in (2, 2, 1, 0):
            assert served.http.post(f"/streams/{stream_id}/ack", json={"sequence_number": number}).status_code == 204
        assert served.http.delete(f"/streams/{stream_id}").status_code == 204
    info = served.store.durable_stream("repeat")
    assert info is not None and info.cursor == 2


# --- slow and stuck clients: memory bounded in bytes ---------------------------------------------------------


def _stuck_client(served: Served, path: str) -> socket.socket:
    """Open a stream on a raw socket with a small receive buffer, read its `ready`, then read nothing more."""
    connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    connection.connect((served.server.host, served.server.port))
    host = f"{served.server.host}:{served.server.port}"
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
    connection.settimeout(10)
    received = b""
    while b"event: ready" not in received:
        received += connection.recv(4096)
    return connection


def _only_stream(served: Served) -> ServerStream:
    (stream,) = server_state(served.app).hub._streams.values()
    return stream


def test_a_stuck_client_holds_at_most_the_stream_buffer_then_its_stream_ends() -> None:
    limit = 64 * 1024
    for served in serve(stream_buffer_bytes=limit, stream_stall_seconds=1.0):
        connection = _stuck_client(served, "/streams/live")
        try:
            stream = _only_stream(served)
            most = 0
            for i in range(200):  # about 10 MB of batches for a client that reads nothing
                served.store.append([NewEvent("e", {"i": i, "pad": "x" * 50_000})])
                most = max(most, stream.channel.queued_bytes)
            assert 0 < most <= limit, most
            deadline = time.monotonic() + 10
            while stream.running:
                assert time.monotonic() < deadline, "the stuck client's stream did not end"
                time.sleep(0.05)
            assert stream.end_reason == "slow_consumer"
            assert stream.channel.queued_bytes == 0
            # When the client reads again, what was already in the socket comes, then `end`.
            received = b""
            while b"event: end" not in received:
                chunk = connection.recv(1 << 20)
                assert chunk, received[-300:]
                received += chunk
            assert b'data: {"reason":"slow_consumer"}' in received
        finally:
            connection.close()


def test_a_stuck_durable_client_releases_its_name() -> None:
    for served in serve(stream_buffer_bytes=16 * 1024, stream_stall_seconds=0.5):
        for i in range(200):  # about 10 MB: more than the socket buffers between server and client hold
            served.store.append([NewEvent("e", {"i": i, "pad": "x" * 50_000})])
        connection = _stuck_client(served, "/streams/durable/stuck")
        try:
            deadline = time.monotonic() + 10
            while served.store.durable_stream("stuck").active:  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the stuck durable client kept its name"
                time.sleep(0.05)
            assert _only_stream(served).end_reason == "slow_consumer"
            assert served.store.durable_stream("stuck").cursor is None  # type: ignore[union-attr]
        finally:
            connection.close()


def test_a_batch_larger_than_the_stream_buffer_still_goes_through() -> None:
    for served in serve(stream_buffer_bytes=1024):
        with served.http.stream("GET", "/streams/live") as response:
            sse = SSE(response)
            sse.next_of("ready")
            served.store.append([NewEvent("big", {"pad": "x" * 100_000}), NewEvent("big", {})])
            served.store.append([NewEvent("small", {})])
            assert [len(sse.next_of("message")[1]) for _ in range(2)] == [2, 1]


def test_closing_a_durable_stream_with_unacknowledged_batches_logs_no_warning(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    append(served, "a")
    append(served, "b")
    with caplog.at_level(logging.INFO), served.http.stream("GET", "/streams/durable/quiet") as response:
        sse = SSE(response)
        stream_id = sse.next_of("ready")[1]["stream_id"]
        sse.next_of("message")  # not acknowledged: the holder waits for it when the stream is closed
        assert served.http.delete(f"/streams/{stream_id}").status_code == 204
        assert sse.next_of("end")[1] == {"reason": "unsubscribed"}
    # The holder stopped (raising ClientGone at the unacknowledged batch) before DELETE answered.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert served.store.durable_stream("quiet").cursor is None  # type: ignore[union-attr]


def test_a_durable_stream_is_acknowledged_and_closed_by_its_name_and_newest_token(served: Served) -> None:
    append(served, "a")
    append(served, "b")
    with served.http.stream("GET", "/streams/durable/by-name") as response:
        sse = SSE(response)
        ready = sse.next_of("ready")
        assert ready[2] == ready[1]["stream_token"] and _delivered(ready[2]) == 0
        first = sse.next_of("message")[2]
        acked = served.http.post("/streams/durable/by-name/ack", json={"sequence_number": 1, "stream_token": first})
        assert acked.status_code == 204
        second = sse.next_of("message")[2]
        closed = served.http.delete("/streams/durable/by-name", params={"stream_token": second})
        assert closed.status_code == 204
        assert sse.next_of("end")[1] == {"reason": "unsubscribed"}
    info = served.store.durable_stream("by-name")
    assert info is not None and (info.cursor, info.active) == (1, False)


def test_a_token_proves_only_what_it_says_was_delivered_and_only_for_its_own_name(served: Served) -> None:
    append(served, "a")
    append(served, "b")
    with served.http.stream("GET", "/streams/durable/proof") as response:
        sse = SSE(response)
        token = sse.next_of("message")[2]
        assert token is not None and _delivered(token) == 1
        for body in (
            {"sequence_number": 2, "stream_token": token},  # above what this token says was delivered
            {"sequence_number": 1, "stream_token": token.replace(".1.", ".2.")},  # a bound the server never signed
            {"sequence_number": 1},  # no token
        ):
            refused = served.http.post("/streams/durable/proof/ack", json=body)
            assert (refused.status_code, refused.json()["code"]) == (422, "invalid_input"), body
        other = served.http.post("/streams/durable/other/ack", json={"sequence_number": 1, "stream_token": token})
        assert (other.status_code, other.json()["code"]) == (422, "invalid_input")
    info = served.store.durable_stream("proof")
    assert info is not None and info.cursor is None
