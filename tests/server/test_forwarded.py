"""X-Forwarded-For/-Proto are trusted only from the proxies named by ``forwarded_allow_ips`` (none by default)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence

import httpx

from factstr import connect
from factstr.server import ServerThread, create_app

from .conftest import SSE


@contextlib.contextmanager
def _server(forwarded_allow_ips: Sequence[str]) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as workdir, connect(f"sqlite:///{workdir}/forwarded.db") as store:
        app = create_app(store, max_streams_per_client=1, heartbeat_seconds=0.5)
        with ServerThread(app, forwarded_allow_ips=forwarded_allow_ips) as server:
            yield server.url


def _second_stream_status(url: str) -> int:
    """Open a stream as client 203.0.113.1, then try another as 203.0.113.2 (the quota is one per client)."""
    with httpx.Client(base_url=url, timeout=10) as http:
        first = {"X-Forwarded-For": "203.0.113.1"}
        with http.stream("GET", "/streams/live", headers=first) as response:
            reader = SSE(response)  # kept: its line iterator closes the response when it is collected
            reader.next_of("ready")
            with http.stream("GET", "/streams/live", headers={"X-Forwarded-For": "203.0.113.2"}) as second:
                return second.status_code


def test_forwarded_headers_are_ignored_by_default() -> None:
    with _server(()) as url:
        # Both requests come from 127.0.0.1, whatever they claim: the second stream is over the quota.
        assert _second_stream_status(url) == 429


def test_forwarded_headers_name_the_client_when_the_proxy_is_trusted() -> None:
    with _server(["127.0.0.1"]) as url:
        # The trusted proxy says these are two clients: each has its own quota.
        assert _second_stream_status(url) == 200


def test_a_proxy_not_named_is_not_trusted() -> None:
    with _server(["192.0.2.10"]) as url:
        assert _second_stream_status(url) == 429
