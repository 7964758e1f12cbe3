"""Hostile or careless requests get a 4xx answer with a stable code: never a 500, never a stack trace."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Served, serve

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
        response = served.http.post("/append", content=b"x" * 5000)
        assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")


def test_streamed_body_above_the_limit_is_413() -> None:
    def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 500

    for served in serve(max_body_bytes=1000):
        response = served.http.post("/append", content=chunks())
        assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")


def test_event_payload_above_the_store_limit_is_invalid_input(served: Served) -> None:
    big = {"events": [{"event_type": "a", "payload": "x" * (1024 * 1024 + 1)}]}
    response = served.http.post("/append", json=big)
    assert (response.status_code, response.json()["code"]) == (422, "invalid_input")
