"""Running the app with uvicorn: in the foreground (``factstr serve``) or on a background thread (tests).

Uvicorn waits for open responses before it shuts down, and an event stream never finishes by itself, so
:class:`Server` ends every stream first: clients get an ``end`` message and durable names are released.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import uvicorn
from starlette.applications import Starlette

from ._app import end_streams
from ._protocol import DEFAULT_REQUEST_TIMEOUT_SECONDS, h11_protocol

# How long shutdown waits for responses in flight after the streams were told to end.
GRACEFUL_SHUTDOWN_SECONDS = 5


class Server(uvicorn.Server):
    """A uvicorn server that ends the app's event streams before waiting for connections to close."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        app = self.config.app
        if isinstance(app, Starlette):
            await end_streams(app)
        await super().shutdown(sockets)


def make_server(
    app: Starlette,
    host: str,
    port: int,
    *,
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT_SECONDS,
    **options: Any,
) -> Server:
    """Return a configured (not yet started) server; logging is left to the caller.

    ``request_timeout``: seconds a client has to send a whole request (head and body) from its first byte.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        loop="asyncio",
        http=h11_protocol(request_timeout),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        **options,
    )
    return Server(config)


class ServerThread:
    """The app served on a free loopback port by a background thread; use as a context manager.

    ``url`` is the base URL once :meth:`start` returned. :meth:`stop` ends the streams, stops uvicorn and
    joins the thread; it does not close the store.
    """

    def __init__(
        self,
        app: Starlette,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        # IPPROTO_TCP explicitly: asyncio turns Nagle's algorithm off only on sockets that say they are TCP,
        # and with it on every response waits for the client's delayed ACK (about 40 ms).
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._server = make_server(app, host, self.port, request_timeout=request_timeout)
        self._thread = threading.Thread(target=self._run, name="factstr-http-server", daemon=True)
        self._failure: BaseException | None = None

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # reported by start()/stop(); a thread must not die silently
            self._failure = exc

    def start(self, timeout: float = 10.0) -> ServerThread:
        """Start serving and wait until the server accepts connections (nothing happens if it runs)."""
        if self._thread.is_alive() or self._server.started:
            return self
        self._thread.start()
        deadline = threading.Event()
        waited = 0.0
        while not self._server.started:
            if not self._thread.is_alive() or waited > timeout:
                self.stop()
                raise RuntimeError(f"the HTTP server did not start: {self._failure!r}")
            deadline.wait(0.01)
            waited += 0.01
        return self

    def stop(self) -> None:
        """Stop serving (ending every stream) and release the port. Idempotent."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join()
        self._socket.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
