"""The Python client: errors mapped back to the store's, and streams that survive a server restart."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest

import factstr
from factstr import (
    BackendError,
    ConditionalAppendConflict,
    EventFilter,
    EventQuery,
    EventRecord,
    EventStore,
    EventStoreError,
    InvalidInput,
    NewEvent,
    StreamEnded,
    connect,
)
from factstr.client import HTTPStore
from factstr.server import ServerThread, create_app


@pytest.fixture
def sqlite_store() -> Iterator[EventStore]:
    with tempfile.TemporaryDirectory() as workdir, connect(f"sqlite:///{workdir}/client.db") as store:
        yield store


def _server(store: EventStore, port: int = 0) -> ServerThread:
    return ServerThread(create_app(store, heartbeat_seconds=0.5, progress_seconds=0.02), port=port).start()


def test_conflict_carries_expected_and_actual(sqlite_store: EventStore) -> None:
    with _server(sqlite_store) as server, HTTPStore(server.url) as client:
        client.append([NewEvent("a", {})])
        with pytest.raises(ConditionalAppendConflict) as conflict:
            client.append_if([NewEvent("b", {})], EventQuery(), None)
        assert (conflict.value.expected, conflict.value.actual) == (None, 1)


def test_server_side_refusal_is_invalid_input(sqlite_store: EventStore) -> None:
    # The client's own limit is higher than the server store's: the server refuses, the client raises the same.
    with _server(sqlite_store) as server, HTTPStore(server.url, max_payload_bytes=4 * 1024 * 1024) as client:
        with pytest.raises(InvalidInput, match="limit"):
            client.append([NewEvent("big", "x" * (2 * 1024 * 1024))])
        assert client.head() is None


def test_unreachable_server_is_a_backend_error(sqlite_store: EventStore) -> None:
    server = _server(sqlite_store)
    url = server.url
    server.stop()
    with HTTPStore(url, timeout=2) as client, pytest.raises(BackendError, match="cannot reach"):
        client.head()


def test_live_stream_resumes_after_a_server_restart_with_no_gap_or_duplicate(sqlite_store: EventStore) -> None:
    first = _server(sqlite_store)
    port = first.port
    received: list[list[EventRecord]] = []
    client = HTTPStore(first.url)
    try:
        stream = client.stream_all(received.append)
        client.append([NewEvent("before", {})])
        assert stream.wait_until(1, timeout=10)
        first.stop()  # the stream gets `end` (shutdown) and the client starts reconnecting
        sqlite_store.append([NewEvent("while-down", {}), NewEvent("while-down", {})])
        sqlite_store.append([NewEvent("while-down", {})])
        with _server(sqlite_store, port=port):
            assert stream.wait_until(4, timeout=20)
            stream.unsubscribe()
    finally:
        client.close()
    assert [[r.sequence_number for r in batch] for batch in received] == [[1], [2, 3], [4]]


def test_durable_stream_resumes_after_a_server_restart(sqlite_store: EventStore) -> None:
    first = _server(sqlite_store)
    port = first.port
    received: list[list[EventRecord]] = []
    client = HTTPStore(first.url)
    try:
        stream = client.stream_all_durable("survivor", received.append)
        client.append([NewEvent("before", {})])
        assert stream.wait_until(1, timeout=10)
        first.stop()
        sqlite_store.append([NewEvent("while-down", {})])
        with _server(sqlite_store, port=port):
            assert stream.wait_until(2, timeout=20)
            stream.unsubscribe()
    finally:
        client.close()
    assert [[r.sequence_number for r in batch] for batch in received] == [[1], [2]]
    info = sqlite_store.durable_stream("survivor")
    assert info is not None and (info.cursor, info.active) == (2, False)


def test_stream_ended_is_part_of_the_error_tree() -> None:
    assert issubclass(StreamEnded, EventStoreError)
    assert StreamEnded.__module__ == "factstr" and "StreamEnded" in factstr.__all__


def test_a_durable_stream_the_server_refuses_to_resume_fails_with_stream_ended(sqlite_store: EventStore) -> None:
    first = _server(sqlite_store)
    port = first.port
    errors: list[BaseException] = []
    client = HTTPStore(first.url)
    try:
        stream = client.stream_all_durable("refused", lambda batch: None, on_error=errors.append)
        client.append([NewEvent("before", {})])
        assert stream.wait_until(1, timeout=10)
        first.stop()
        # While the server is down, the name is registered again with another query: resuming is refused.
        other = EventQuery(filters=[EventFilter(event_types=["other"])])
        sqlite_store.stream_to_durable("refused", other, lambda batch: None, reset=True).unsubscribe()
        with _server(sqlite_store, port=port):
            with pytest.raises(StreamEnded, match="durable stream"):
                stream.wait_until(2, timeout=20)
            assert not stream.running
    finally:
        client.close()
    assert len(errors) == 1 and isinstance(errors[0], StreamEnded)
    assert isinstance(stream.failure, StreamEnded)


def test_http_store_implements_the_contract_without_the_local_stores_backend_hooks(sqlite_store: EventStore) -> None:
    from factstr._store import LocalStore

    with _server(sqlite_store) as server, HTTPStore(server.url) as client:
        assert isinstance(client, EventStore) and not isinstance(client, LocalStore)
        assert isinstance(sqlite_store, LocalStore)
        for hook in ("_scan", "_load_cursor", "_save_cursor", "_advance_cursor", "_acquire_hold", "_is_held"):
            assert not hasattr(client, hook), hook
        assert not EventStore.__abstractmethods__ & {"_scan", "_acquire_hold"}


def test_error_codes_come_back_as_the_classes_that_declare_them() -> None:
    from factstr._errors import ERROR_CODES
    from factstr.client._transport import error_from_response
    from factstr.server._problems import problem_body

    for code, known in ERROR_CODES.items():
        error = error_from_response(known.status, problem_body(known.status, code, "what happened"))
        assert type(error) is known.error_class, code
    assert type(error_from_response(599, problem_body(599, "from_a_newer_server", "x"))) is BackendError
