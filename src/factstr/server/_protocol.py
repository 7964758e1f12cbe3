"""The HTTP/1.1 connection layer under the app: uvicorn's protocol with FACTSTR's answers and a read deadline.

Two things happen before a request reaches the app, so the app cannot handle them itself:

- A request that is not valid HTTP (a bad Content-Length, a control character in the URL, a malformed header)
  is refused by the parser. Uvicorn answers that with a plain-text 400; here it is the API's problem+json
  error, ``{"code": "invalid_input", ...}``, like every other refusal.
- A client that starts a request and never finishes it would hold its connection (and, mid-body, a request
  task) forever. Every request must arrive whole, head and body, within ``request_timeout`` seconds of its
  first byte (or of the connection, for the first request): a late head is answered with 408
  ``request_timeout`` and the connection closed; a late body closes the connection, and the route that was
  reading it sees a client that went away. Idle kept-alive connections are uvicorn's ``timeout_keep_alive``.

Two parsers, one behaviour: uvicorn's httptools protocol (the C parser of Node.js, several times faster per
request) when httptools is installed (the ``server`` extra installs it), else its h11 protocol. httptools
accepts a few things h11 refuses (no Host, a NUL in a header, an endless head, bytes outside ASCII in the
target); the httptools protocol here refuses them itself, so both answer the same requests the same way.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ._problems import MEDIA_TYPE, problem_body

DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0
# The largest request head (request line and headers) accepted, as h11's default.
MAX_HEAD_BYTES = 16 * 1024
_PARSER_REFUSAL = "the request is not valid HTTP/1.1 (request line, header or Content-Length)"


def _raw_json_response(status: int, reason: str, code: str, message: str) -> bytes:
    body = problem_body(status, code, message)
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"content-type: {MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _ReadDeadline:
    """The read deadline and the JSON refusals, shared by both protocols (mixed in before uvicorn's class).

    A protocol says where its request stands through :meth:`_waiting_for_request` (nothing of a request
    arrived yet) and :meth:`_head_incomplete` (the head is still arriving).
    """

    request_timeout: float = DEFAULT_REQUEST_TIMEOUT_SECONDS
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    _read_deadline: asyncio.TimerHandle | None = None
    _request_bytes = 0

    def _waiting_for_request(self) -> bool:
        raise NotImplementedError  # pragma: no cover - each protocol below says

    def _head_incomplete(self) -> bool:
        raise NotImplementedError  # pragma: no cover - each protocol below says

    def _request_whole(self) -> bool:
        raise NotImplementedError  # pragma: no cover - each protocol below says

    def _on_bytes(self, data: bytes) -> None:
        if self._read_deadline is None and self._waiting_for_request():
            self._start_deadline()  # the first bytes of the next request on a kept-alive connection
        self._request_bytes += len(data)

    def _after_bytes(self) -> None:
        if self._request_whole():
            self._stop_deadline()

    def _refuse(self) -> None:
        # The parser refused the bytes, so its own state cannot send an answer any more: write it ourselves.
        self._stop_deadline()
        if not self.transport.is_closing():
            self.transport.write(_raw_json_response(400, "Bad Request", "invalid_input", _PARSER_REFUSAL))
            self.transport.close()

    def _start_deadline(self) -> None:
        self._stop_deadline()
        self._request_bytes = 0
        self._read_deadline = self.loop.call_later(self.request_timeout, self._too_slow)

    def _stop_deadline(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _too_slow(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        if self._head_incomplete() and self._request_bytes:
            message = f"the request did not arrive within {self.request_timeout:g} seconds"
            self.transport.write(_raw_json_response(408, "Request Timeout", "request_timeout", message))
        # A body that stopped halfway: closing tells the route reading it that the client is gone.
        self.transport.close()


class FactstrH11Protocol(_ReadDeadline, H11Protocol):
    """Uvicorn's h11 protocol, answering parser errors in JSON and dropping requests that arrive too slowly."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._start_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def _waiting_for_request(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def _head_incomplete(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def _request_whole(self) -> bool:
        # DONE, or the connection is over: nothing more to wait for.
        return self.conn.their_state not in (h11.IDLE, h11.SEND_BODY)

    def data_received(self, data: bytes) -> None:
        self._on_bytes(data)
        super().data_received(data)
        self._after_bytes()

    def send_400_response(self, msg: str) -> None:
        self._refuse()


def _httptools_protocol() -> type[Any] | None:
    """The httptools protocol class, or None when httptools is not installed."""
    if importlib.util.find_spec("httptools") is None:
        return None
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class FactstrHttpToolsProtocol(_ReadDeadline, HttpToolsProtocol):
        """Uvicorn's httptools protocol with the same answers, limits and deadline as the h11 one."""

        _stage = "idle"  # idle -> head -> body -> idle
        _head_bytes = 0
        _has_host = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            self._start_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_deadline()
            super().connection_lost(exc)

        def _waiting_for_request(self) -> bool:
            return self._stage == "idle"

        def _head_incomplete(self) -> bool:
            return self._stage in ("idle", "head")

        def _request_whole(self) -> bool:
            return self._stage == "idle" or self.transport.is_closing()

        def data_received(self, data: bytes) -> None:
            self._on_bytes(data)
            if self._stage != "body":
                self._head_bytes += len(data)
            super().data_received(data)
            if self._stage == "head" and self._head_bytes > MAX_HEAD_BYTES:
                self._refuse()  # a head that goes on and on: h11 refuses it at the same size
                return
            self._after_bytes()

        def on_message_begin(self) -> None:
            self._stage, self._has_host = "head", False
            super().on_message_begin()

        def on_url(self, url: bytes) -> None:
            if not url.isascii() or any(byte < 0x21 or byte == 0x7F for byte in url):
                raise _Refused()
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            if b"\0" in value or b"\0" in name:
                raise _Refused()
            if name.lower() == b"host":
                self._has_host = True
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            if not self._has_host and self.parser.get_http_version() == "1.1":
                raise _Refused()
            self._stage = "body"
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._stage, self._head_bytes = "idle", 0
            super().on_message_complete()

        def send_400_response(self, msg: str) -> None:
            self._refuse()

    return FactstrHttpToolsProtocol


class _Refused(Exception):
    """Raised from an httptools callback: the parser stops with an error and uvicorn calls send_400_response."""


def http_protocol(request_timeout: float) -> type[Any]:
    """The protocol class for uvicorn's ``http`` option, with this request read deadline."""
    base = _httptools_protocol() or FactstrH11Protocol
    return type(base.__name__, (base,), {"request_timeout": request_timeout})
