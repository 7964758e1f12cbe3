"""Prometheus metrics and structured logs."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import string
import time
import uuid
from typing import Any

import pytest

from factstr import MemoryStore
from factstr.server import create_app
from factstr.server._logging import JSONFormatter

from .conftest import Served, append


def test_metrics_count_appends_conflicts_events_and_requests(served: Served) -> None:
    append(served, "a", "b")
    served.http.post(
        "/append_if",
        json={"events": [{"event_type": "c", "payload": 1}], "context_query": {}, "expected_context_version": None},
    )
    text = served.http.get("/metrics").text
    assert 'factstr_appends_total{namespace="default"} 1\n' in text
    assert 'factstr_events_appended_total{namespace="default"} 2\n' in text
    assert 'factstr_append_conflicts_total{namespace="default"} 1\n' in text
    assert 'factstr_http_requests_total{namespace="default",route="/append",method="POST",status="2xx"} 1' in text
    assert 'factstr_http_request_duration_seconds_count{namespace="default",route="/append"} 1' in text
    assert 'factstr_head{namespace="default"} 2\n' in text


def test_metrics_report_lag_per_durable_name(served: Served) -> None:
    append(served, "a")
    with served.store.stream_all_durable('odd "name"', lambda batch: None, start="end"):
        pass
    append(served, "b")
    text = served.http.get("/metrics").text
    assert 'factstr_durable_stream_lag{namespace="default",name="odd \\"name\\""} 1' in text
    assert 'factstr_durable_stream_active{namespace="default",name="odd \\"name\\""} 0' in text


def test_access_log_lines_are_json_with_request_fields(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="factstr.server.access"):
        served.http.get("/head")
        # The line is written once the response went out, so it may come just after the client has it.
        deadline = time.monotonic() + 10
        while not [r for r in caplog.records if r.name == "factstr.server.access"]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    (record,) = [r for r in caplog.records if r.name == "factstr.server.access"]
    line = json.loads(JSONFormatter().format(record))
    assert (line["level"], line["method"], line["path"], line["status"]) == ("info", "GET", "/head", 200)
    assert isinstance(line["duration_ms"], float) and line["time"].endswith("Z")


def _series(text: str, family: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(family + "{")]


async def _call(app: Any, method: str, path: str) -> int:
    """Send one request straight into the ASGI app (no sockets: 20,000 of them take a moment, not minutes)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:7117")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 7117),
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def test_made_up_methods_and_paths_do_not_grow_the_metrics() -> None:
    app = create_app(MemoryStore())
    alphabet = string.ascii_uppercase

    async def flood() -> set[int]:
        statuses = set()
        for i in range(20_000):
            method = "".join(random.choices(alphabet, k=12)) if i % 2 else random.choice(["GET", "POST", "PUT"])
            path = f"/{uuid.uuid4().hex}/{i}" if i % 3 else "/head"
            statuses.add(await _call(app, method, path))
        return statuses

    assert asyncio.run(flood()) >= {404, 405}
    text = asyncio.run(_metrics_text(app))
    requests = _series(text, "factstr_http_requests_total")
    assert len(requests) <= 12, requests
    assert 'route="unmatched",method="other",status="4xx"' in text
    assert len(_series(text, "factstr_http_request_duration_seconds_bucket")) <= 3 * 14
    assert len(text) < 20_000


async def _metrics_text(app: Any) -> str:
    body = b""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal body
        if message["type"] == "http.response.body":
            body += message.get("body", b"")

    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": "/metrics",
        "raw_path": b"/metrics",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:7117")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 7117),
    }
    await app(scope, receive, send)
    return body.decode()


def test_made_up_methods_over_a_real_connection_count_as_other(served: Served) -> None:
    for i in range(50):
        with socket.create_connection((served.server.host, served.server.port)) as connection:
            connection.sendall(
                f"X{i}Y /nowhere/{i} HTTP/1.1\r\nHost: {served.server.host}:{served.server.port}\r\n\r\n".encode()
            )
            assert connection.recv(1024).startswith(b"HTTP/1.1 404")
    text = served.http.get("/metrics").text
    assert 'factstr_http_requests_total{namespace="default",route="unmatched",method="other",status="4xx"} 50' in text
    assert "X1Y" not in text and "/nowhere" not in text
