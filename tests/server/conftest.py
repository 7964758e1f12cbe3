"""Fixtures for the server tests: a real server on a loopback port over a fresh SQLite store."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from factstr import EventStore, connect
from factstr.server import ServerThread, create_app
from factstr.server._protocol import DEFAULT_REQUEST_TIMEOUT_SECONDS

JSON = {"Content-Type": "application/json"}


@dataclass
class Served:
    """A running server, its store, and an HTTP client pointed at it."""

    store: EventStore
    server: ServerThread
    http: httpx.Client
    app: Starlette

    @property
    def url(self) -> str:
        return self.server.url


def serve(*, request_timeout: float = DEFAULT_REQUEST_TIMEOUT_SECONDS, **options: Any) -> Iterator[Served]:
    options.setdefault("heartbeat_seconds", 0.3)
    options.setdefault("progress_seconds", 0.02)
    with tempfile.TemporaryDirectory() as workdir:
        store = connect(f"sqlite:///{workdir}/server.db")
        app = create_app(store, **options)
        server = ServerThread(app, request_timeout=request_timeout).start()
        http = httpx.Client(base_url=server.url, timeout=10)
        try:
            yield Served(store, server, http, app)
        finally:
            http.close()
            server.stop()
            store.close()


@pytest.fixture
def served() -> Iterator[Served]:
    yield from serve()


class SSE:
    """Reads server-sent events from a streaming httpx response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.iter_lines()
        self.comments = 0

    def next(self) -> tuple[str, Any, str | None]:
        """Return the next message as (event name, decoded data, id)."""
        event, event_id = "message", None
        data: list[str] = []
        for line in self._lines:
            if not line:
                if data:
                    return event, json.loads("\n".join(data)), event_id
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                event_id = value
        raise EOFError("the stream ended")

    def next_of(self, *events: str) -> tuple[str, Any, str | None]:
        """Return the next message whose event name is one of ``events``."""
        while True:
            message = self.next()
            if message[0] in events:
                return message


def append(served: Served, *event_types: str) -> dict[str, Any]:
    """Append one batch of events with empty payloads through the API."""
    response = served.http.post("/append", json={"events": [{"event_type": t, "payload": {}} for t in event_types]})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result
