"""Hostile or careless requests get a 4xx answer with a stable code: never a 500, never a stack trace."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from typing import Any

import pytest

from .conftest import JSON, Served, serve

BAD_BODIES: list[tuple[str, str, bytes]] = [
    ("malformed-json", "/append", b'{"events": [}'),
    ("not-utf8", "/append", b'{"events": "\xff"}'),
    ("lone-surrogate", "/append", b'{"events": [{"event_type": "\\ud800", "payload": 1}]}'),
    ("events-not-a-list", "/append", b'{"events": {"event_type": "a"}}'),
    ("event-type-not-a-string", "/append", b'{"events": [{"event_type": 7, "payload": 1}]}'),
    ("missing-payload", "/append", b'{"events": [{"event_type": "a"}]}'),
    ("unknown-field", "/append", b'{"events": [{"event_type": "a", "payload": 1, "extra": 1}]}'),
    ("unknown-top-level-field", "/query", b'{"min_sequence": 3}'),
    ("nul-in-event-type", "/append", b'{"events": [{"event_type": "a\\u0000", "payload": 1}]}'),
    ("nul-in-payload-key", "/append", b'{"events": [{"event_type": "a", "payload": {"k\\u0000": 1}}]}'),
    ("empty-event-type", "/append", b'{"events": [{"event_type": "", "payload": 1}]}'),
    ("integer-beyond-int64", "/append", b'{"events": [{"event_type": "a", "payload": 99999999999999999999999}]}'),
    ("number-overflow", "/append", b'{"events": [{"event_type": "a", "payload": 1e999}]}'),
    ("deep-nesting", "/append", b'{"events": [{"event_type": "a", "payload": ' + b"[" * 5000 + b"]" * 5000 + b"}]}"),
    ("float-sequence-number", "/query", b'{"min_sequence_number": 1.5}'),
    ("bool-limit", "/query", b'{"limit": true}'),
    ("negative-limit", "/query", b'{"limit": -1}'),
    ("string-backwards", "/query", b'{"backwards": "yes"}'),
    ("filters-not-a-list", "/query", b'{"filters": {"event_types": ["a"]}}'),
    ("predicate-nul", "/query", b'{"filters": [{"payload_predicates": [{"a": "\\u0000"}]}]}'),
    (
        "expected-version-negative",
        "/append_if",
        b'{"events": [{"event_type": "a", "payload": 1}], "context_query": {}, "expected_context_version": -1}',
    ),
    ("expected-version-missing", "/append_if", b'{"events": [{"event_type": "a", "payload": 1}], "context_query": {}}'),
    ("empty-body", "/query", b""),
    ("json-array-body", "/query", b"[]"),
    ("reset-position-float", "/durable_streams/x/reset", b'{"position": 1.0}'),
    ("ack-negative", "/streams/abc/ack", b'{"sequence_number": -1}'),
]


@pytest.mark.parametrize(("label", "path", "body"), BAD_BODIES, ids=[label for label, _, _ in BAD_BODIES])
def test_bad_body_gets_a_coded_4xx_and_commits_nothing(served: Served, label: str, path: str, body: bytes) -> None:
    response = served.http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    error: dict[str, Any] = response.json()
    assert error["code"] in {"invalid_input", "empty_append", "not_found"}
    assert "Traceback" not in error["message"]
    assert served.store.head() is None


BAD_REQUESTS: list[tuple[str, str, str, dict[bytes, bytes]]] = [
    ("stream-query-not-json", "GET", "/streams/live?query=%7Bnope", {}),
    ("stream-query-wrong-shape", "GET", "/streams/live?query=%5B1%5D", {}),
    ("stream-start-word", "GET", "/streams/live?start=middle", {}),
    ("stream-start-negative", "GET", "/streams/live?start=-1", {}),
    ("stream-start-superscript", "GET", "/streams/live?start=%C2%B2", {}),
    ("last-event-id-superscript", "GET", "/streams/live", {b"Last-Event-ID": b"\xc2\xb2"}),
    ("last-event-id-not-a-number", "GET", "/streams/live", {b"Last-Event-ID": b"abc"}),
    ("durable-reset-not-bool", "GET", "/streams/durable/x?reset=maybe", {}),
    ("durable-name-too-long", "GET", "/streams/durable/" + "x" * 201, {}),
    ("durable-name-nul", "GET", "/durable_streams/a%00b", {}),
    ("unknown-route", "GET", "/nowhere", {}),
    ("wrong-method", "PUT", "/append", {}),
]


@pytest.mark.parametrize(
    ("label", "method", "path", "headers"), BAD_REQUESTS, ids=[label for label, _, _, _ in BAD_REQUESTS]
)
def test_bad_request_gets_a_coded_4xx(
    served: Served, label: str, method: str, path: str, headers: dict[bytes, bytes]
) -> None:
    response = served.http.request(method, path, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["code"] in {"invalid_input", "not_found", "method_not_allowed"}


def test_body_above_the_limit_is_413_before_it_is_read() -> None:
    for served in serve(max_body_bytes=1000):
        response = served.http.post("/append", content=b"x" * 5000, headers=JSON)
        assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")


def test_streamed_body_above_the_limit_is_413() -> None:
    def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 500

    for served in serve(max_body_bytes=1000):
        response = served.http.post("/append", content=chunks(), headers=JSON)
        assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")


def test_event_payload_above_the_store_limit_is_invalid_input(served: Served) -> None:
    big = {"events": [{"event_type": "a", "payload": "x" * (1024 * 1024 + 1)}]}
    response = served.http.post("/append", json=big)
    assert (response.status_code, response.json()["code"]) == (422, "invalid_input")


# --- below the app: what the HTTP parser refuses, slow and vanishing clients ------------------------------


def _raw(served: Served, data: bytes, *, wait: float = 5.0) -> bytes:
    """Send raw bytes on a fresh connection and return everything the server answers until it closes."""
    with socket.create_connection((served.server.host, served.server.port)) as connection:
        connection.sendall(data)
        connection.settimeout(wait)
        answer = b""
        with contextlib.suppress(TimeoutError):
            while chunk := connection.recv(65536):
                answer += chunk
        return answer


def _json_error(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), head
    error: dict[str, Any] = json.loads(body)
    return status, error


MALFORMED: list[tuple[str, bytes]] = [
    ("bad-content-length", b"POST /append HTTP/1.1\r\nHost: {host}\r\nContent-Length: abc\r\n\r\n"),
    ("two-content-lengths", b"POST /append HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
    ("control-character-in-url", b"GET /he\x01ad HTTP/1.1\r\nHost: {host}\r\n\r\n"),
    ("not-ascii-in-url", b"GET /h\xffad HTTP/1.1\r\nHost: {host}\r\n\r\n"),
    ("nul-in-header", b"GET /head HTTP/1.1\r\nHost: {host}\r\nX-A: a\x00b\r\n\r\n"),
    ("no-host", b"GET /head HTTP/1.1\r\n\r\n"),
    ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
    ("endless-header", b"GET /head HTTP/1.1\r\nHost: {host}\r\nX-A: " + b"a" * 70_000),
]


@pytest.mark.parametrize(("label", "request_bytes"), MALFORMED, ids=[label for label, _ in MALFORMED])
def test_what_the_http_parser_refuses_is_a_json_error_too(served: Served, label: str, request_bytes: bytes) -> None:
    host = f"{served.server.host}:{served.server.port}".encode()
    status, error = _json_error(_raw(served, request_bytes.replace(b"{host}", host)))
    assert (status, error["code"]) == (400, "invalid_input")
    assert served.store.head() is None


def test_a_trailing_slash_is_a_json_404_never_a_redirect(served: Served) -> None:
    for method, path in (("POST", "/append/"), ("POST", "/query/"), ("GET", "/head/"), ("GET", "/metrics/")):
        response = served.http.request(method, path, json={} if method == "POST" else None)
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), (method, path)
    assert served.store.head() is None


def test_a_client_leaving_mid_body_is_no_error_and_no_500(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    host = f"{served.server.host}:{served.server.port}"
    head = f"POST /append HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            with socket.create_connection((served.server.host, served.server.port)) as connection:
                connection.sendall(head.encode() + b'{"events": [')
                time.sleep(0.05)
        deadline = time.monotonic() + 10
        while 'status="none"} 5' not in (text := served.http.get("/metrics").text):
            assert time.monotonic() < deadline, text
            time.sleep(0.05)
    assert 'factstr_http_requests_total{namespace="default",route="/append",method="POST",status="none"} 5' in text
    assert "5xx" not in text
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert served.store.head() is None


def test_half_sent_requests_are_dropped_after_the_request_timeout() -> None:
    for served in serve(request_timeout=0.5):
        address = (served.server.host, served.server.port)
        host = f"{served.server.host}:{served.server.port}"
        partial_heads = [socket.create_connection(address) for _ in range(100)]
        partial_bodies = [socket.create_connection(address) for _ in range(100)]
        silent = [socket.create_connection(address) for _ in range(20)]
        try:
            for connection in partial_heads:
                connection.sendall(f"GET /head HTTP/1.1\r\nHost: {host}\r\nX-Slow: ".encode())
            for connection in partial_bodies:
                connection.sendall(
                    f"POST /append HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                    "Content-Length: 100\r\n\r\n{".encode()
                )
            for connection in partial_heads:
                connection.settimeout(10)
                status, error = _json_error(_read_to_end(connection))
                assert (status, error["code"]) == (408, "request_timeout")
            for connection in [*partial_bodies, *silent]:
                connection.settimeout(10)
                _read_to_end(connection)  # the server closed it (a read of b"" ends it; a timeout would raise)
            # A request that arrives whole in time is served as usual, and so is the next one.
            assert served.http.get("/head").status_code == 200
            assert served.store.head() is None
        finally:
            for connection in [*partial_heads, *partial_bodies, *silent]:
                connection.close()


def test_a_slow_but_whole_request_within_the_timeout_is_served() -> None:
    for served in serve(request_timeout=3):
        host = f"{served.server.host}:{served.server.port}"
        body = json.dumps({"events": [{"event_type": "slow", "payload": {}}]}).encode()
        head = (
            f"POST /append HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        with socket.create_connection((served.server.host, served.server.port)) as connection:
            for piece in (head[:20], head[20:], body[:5], body[5:]):
                connection.sendall(piece)
                time.sleep(0.2)
            connection.settimeout(10)
            assert _read_to_end(connection).startswith(b"HTTP/1.1 200")
        assert served.store.head() == 1


def _read_to_end(connection: socket.socket) -> bytes:
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
    return answer
