"""The HTTP/1.1 connection layer under the app: uvicorn's h11 protocol with FACTSTR's answers and a read deadline.

Two things happen before a request reaches the app, so the app cannot handle them itself:

- A request that is not valid HTTP (a bad Content-Length, a control character in the URL, a malformed header)
  is refused by the parser. Uvicorn answers that with a plain-text 400; here it is the API's problem+json
  error, ``{"code": "invalid_input", ...}``, like every other refusal.
- A client that starts a request and never finishes it would hold its connection (and, mid-body, a request
  task) forever. Every request must arrive whole, head and body, within ``request_timeout`` seconds of its
  first byte (or of the connection, for the first request): a late head is answered with 408
  ``request_timeout`` and the connection closed; a late body closes the connection, and the route that was
  reading it sees a client that went away. Idle kept-alive connections are uvicorn's ``timeout_keep_alive``.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ._problems import MEDIA_TYPE, problem_body

DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0


def _raw_json_response(status: int, reason: str, code: str, message: str) -> bytes:
    body = problem_body(status, code, message)
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"content-type: {MEDIA_TYPE}\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class FactstrH11Protocol(H11Protocol):
    """Uvicorn's h11 protocol, answering parser errors in JSON and dropping requests that arrive too slowly."""

    request_timeout: float = DEFAULT_REQUEST_TIMEOUT_SECONDS

    _read_deadline: asyncio.TimerHandle | None = None
    _request_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._start_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._read_deadline is None and self.conn.their_state is h11.IDLE:
            self._start_deadline()  # the first bytes of the next request on a kept-alive connection
        self._request_bytes += len(data)
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            # The request arrived whole (DONE), or the connection is over: nothing more to wait for.
            self._stop_deadline()

    def send_400_response(self, msg: str) -> None:
        # h11 refused the bytes, so its own state cannot send an answer any more: write it ourselves.
        self._stop_deadline()
        message = "the request is not valid HTTP/1.1 (request line, header or Content-Length)"
        self.transport.write(_raw_json_response(400, "Bad Request", "invalid_input", message))
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
        if self.conn.their_state is h11.IDLE and self._request_bytes:
            message = f"the request did not arrive within {self.request_timeout:g} seconds"
            self.transport.write(_raw_json_response(408, "Request Timeout", "request_timeout", message))
        # A body that stopped halfway: closing tells the route reading it that the client is gone.
        self.transport.close()


def h11_protocol(request_timeout: float) -> type[FactstrH11Protocol]:
    """The protocol class for uvicorn's ``http`` option, with this request read deadline."""
    return type("FactstrH11Protocol", (FactstrH11Protocol,), {"request_timeout": request_timeout})
