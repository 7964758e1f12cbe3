"""HTTP/1.1 requests to a FACTSTR server with the standard library: one kept-alive connection per thread.

Error bodies are turned back into the exceptions the stores raise, so a caller cannot tell a remote store from
a local one by its errors. Connection failures become BackendError; a POST that may have reached the server
before the connection broke becomes AppendOutcomeUnknown, because retrying it blindly could commit twice.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
import urllib.parse
from typing import Any, TypeVar

import msgspec

from .._errors import (
    AppendOutcomeUnknown,
    BackendError,
    ConditionalAppendConflict,
    DurableStreamActive,
    DurableStreamMismatch,
    EmptyAppend,
    EventStoreError,
    InvalidInput,
    UnknownDurableStream,
    UnknownNamespace,
)
from .._model import EventRecord

T = TypeVar("T")

_ERRORS_BY_CODE: dict[str, type[EventStoreError]] = {
    "empty_append": EmptyAppend,
    "durable_stream_mismatch": DurableStreamMismatch,
    "unknown_durable_stream": UnknownDurableStream,
    "invalid_input": InvalidInput,
    "payload_too_large": InvalidInput,
    "unsupported_media_type": InvalidInput,
    "durable_stream_active": DurableStreamActive,
    "append_outcome_unknown": AppendOutcomeUnknown,
    "unknown_namespace": UnknownNamespace,
    # Refusals of namespace administration: the request cannot be done as asked.
    "namespace_exists": InvalidInput,
    "namespace_busy": InvalidInput,
    "too_many_namespaces": InvalidInput,
    "namespaces_unsupported": InvalidInput,
}


class _Connection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        # http.client writes the headers and the body in two sends; with Nagle's algorithm on, the body then
        # waits for the server's delayed ACK (about 40 ms per request).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _TLSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _ErrorBody(msgspec.Struct):
    code: str = "backend_error"
    message: str = ""
    expected: int | None = None
    actual: int | None = None
    facts: list[EventRecord] = msgspec.field(default_factory=list)
    truncated: bool = False


def error_from_response(status: int, body: bytes) -> EventStoreError:
    """Return the exception an error response stands for."""
    try:
        error = msgspec.json.decode(body, type=_ErrorBody)
    except msgspec.MsgspecError:
        return BackendError(f"the server answered {status} without a FACTSTR error body")
    if error.code == "conditional_append_conflict":
        return ConditionalAppendConflict(error.expected, error.actual, error.facts, error.truncated)
    kind = _ERRORS_BY_CODE.get(error.code, BackendError)
    if kind is EmptyAppend:
        return EmptyAppend(error.message)
    return kind(f"{error.message} ({error.code}, HTTP {status})" if kind is BackendError else error.message)


class Transport:
    """Sends requests to one server; thread-safe (each thread keeps its own connection)."""

    def __init__(self, url: str, *, token: str | None, timeout: float) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"{url!r} is not an http:// or https:// URL")
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self.headers = {"Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: set[http.client.HTTPConnection] = set()

    def path(self, path: str) -> str:
        """The request target of an API path (under the URL's own path, if any)."""
        return self._prefix + path

    def new_connection(self, timeout: float | None = None) -> http.client.HTTPConnection:
        """Open a fresh connection (streams use their own); the caller closes it."""
        kind = _TLSConnection if self._https else _Connection
        return kind(self._host, self._port, timeout=self._timeout if timeout is None else timeout)

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None and connection.sock is not None:
            # A kept-alive connection the server closed reads as "readable" (EOF): do not send on it.
            readable, _, _ = select.select([connection.sock], [], [], 0)
            if readable:
                self._drop(connection)
                connection = None
        if connection is None:
            connection = self.new_connection()
            self._local.connection = connection
            with self._lock:
                self._connections.add(connection)
        return connection

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        self._local.connection = None
        with self._lock:
            self._connections.discard(connection)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        unsure_if_lost: bool = False,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        """Send a request and return the answer's body (empty for 204); raise the mapped error.

        ``unsure_if_lost``: the request changes the log, so a connection lost after sending it leaves the
        outcome unknown (AppendOutcomeUnknown) instead of a plain BackendError. ``headers`` are sent as well.
        """
        data = None if body is None else msgspec.json.encode(body)
        headers = {**self.headers, **(headers or {})}
        if data is not None:
            headers["Content-Type"] = "application/json"
        connection = self._connection()
        sent = False
        try:
            connection.request(method, self.path(path), body=data, headers=headers)
            sent = True
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._drop(connection)
            if sent and unsure_if_lost:
                raise AppendOutcomeUnknown(f"lost the connection to {self.url} while appending") from exc
            raise BackendError(f"cannot reach the FACTSTR server at {self.url}: {exc}") from exc
        if response.will_close:
            self._drop(connection)
        if response.status >= 400:
            raise error_from_response(response.status, payload)
        return payload

    def call(self, kind: type[T], method: str, path: str, body: Any = None, **options: Any) -> T:
        """Like :meth:`request`, decoding the JSON answer into ``kind``."""
        payload = self.request(method, path, body, **options)
        try:
            result: T = msgspec.json.decode(payload, type=kind)
        except msgspec.MsgspecError as exc:
            raise BackendError(f"the server at {self.url} sent an answer this client cannot read: {exc}") from exc
        return result

    def close(self) -> None:
        """Close every kept-alive connection."""
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            connection.close()
