"""A lean HTTP/1.1 client connection for the API's request/response calls (streams use ``http.client``).

``http.client`` parses every response's headers with the ``email`` package and sends a request in several
writes; for a call that takes the server about 0.15 ms that was most of the client's time (0.5 ms per call,
measured with ``head()``). This connection writes a request in one ``sendall`` and reads the answer with a
buffered reader: the status line, the few headers that matter (Content-Length, Transfer-Encoding, Connection)
and the body. It speaks only what the FACTSTR server answers (HTTP/1.1, keep-alive, a length or chunks) and
refuses anything else as a protocol error.
"""

from __future__ import annotations

import socket
import ssl

_MAX_LINE = 65536
_MAX_HEADERS = 100


class ProtocolError(OSError):
    """The server's answer is not HTTP/1.1 this client reads; the connection is unusable."""


class Response:
    """A whole answer: its status, its body, and whether the server closes the connection after it."""

    __slots__ = ("body", "status", "will_close")

    def __init__(self, status: int, body: bytes, will_close: bool) -> None:
        self.status = status
        self.body = body
        self.will_close = will_close


class Connection:
    """One kept-alive connection to ``host:port`` (TLS when ``tls`` is given); not thread-safe."""

    def __init__(self, host: str, port: int, *, timeout: float, tls: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection((host, port), timeout)
        try:
            # One write per request, and never wait for a delayed ACK (Nagle).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls is not None:
                sock = tls.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
        self.sock: socket.socket | None = sock
        self._reader = sock.makefile("rb")
        default_port = 443 if tls is not None else 80
        authority = host if ":" not in host else f"[{host}]"
        self.host_header = authority if port == default_port else f"{authority}:{port}"

    def send(self, method: str, target: str, headers: bytes, body: bytes | None) -> None:
        """Write one request; ``headers`` are ready ``Name: value\\r\\n`` lines (without Host and length)."""
        if self.sock is None:
            raise ProtocolError("the connection is closed")
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.host_header}\r\n".encode("latin-1") + headers
        if body is not None:
            head += b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
            self.sock.sendall(head + body)
        else:
            self.sock.sendall(head + b"\r\n")

    def receive(self, method: str) -> Response:
        """Read the answer to the request just sent."""
        status_line = self._line()
        if not status_line:
            raise ProtocolError("the server closed the connection")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"not an HTTP/1.1 status line: {status_line[:80]!r}")
        status = int(parts[1])
        will_close = parts[0] == b"HTTP/1.0"
        length: int | None = None
        chunked = False
        for _ in range(_MAX_HEADERS):
            line = self._line()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip()
            if name == b"content-length":
                if not value.isdigit():
                    raise ProtocolError(f"bad Content-Length {value[:40]!r}")
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                will_close = value.lower() == b"close"
        else:
            raise ProtocolError("too many headers")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif chunked:
            body = self._chunks()
        elif length is not None:
            body = self._exactly(length)
        else:
            body, will_close = self._reader.read(), True
        return Response(status, body, will_close)

    def _line(self) -> bytes:
        line = self._reader.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise ProtocolError("a line of the answer is too long")
        return line

    def _exactly(self, size: int) -> bytes:
        data = self._reader.read(size)
        if len(data) != size:
            raise ProtocolError("the server closed the connection in the middle of an answer")
        return data

    def _chunks(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size_line = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size {size_line[:40]!r}") from None
            if size == 0:
                while self._line() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self._exactly(size))
            self._line()  # the CRLF after each chunk

    def close(self) -> None:
        """Close the connection; idempotent."""
        sock, self.sock = self.sock, None
        if sock is not None:
            self._reader.close()
            sock.close()
