"""The ``http`` test backend: the conformance suite through the HTTP API.

Each test gets a real server (uvicorn on a free loopback port, on a background thread) over a fresh store, and
``open()`` returns an :class:`~factstr.client.HTTPStore` talking to it, so every behaviour is checked end to
end: JSON bodies, error codes, server-sent events, acknowledgements. The store behind the server is SQLite in
the test's directory when SQLite is available (then a subprocess can share it through ``url``), else Memory.
"""

from __future__ import annotations

from typing import Any

from .._memory import MemoryStore
from .._store import EventStore
from ..client import HTTPStore
from ._backends import Backend

# Short intervals keep tests fast; the production defaults are in factstr.server._app.
_HEARTBEAT_SECONDS = 1.0
_PROGRESS_SECONDS = 0.02


def _sqlite_available() -> bool:
    try:
        from ..sqlite import SQLiteStore  # noqa: F401
    except ImportError:
        return False
    return True


class HTTPBackend(Backend):
    """A server over a fresh store; every ``open()`` is a new client of that one server."""

    name = "http"
    shares_database = True

    def __init__(self, workdir: Any) -> None:
        super().__init__(workdir)
        from ..server import ServerThread, create_app

        self._sqlite_url: str | None = None
        if _sqlite_available():
            from .._connect import connect

            self._sqlite_url = f"sqlite:///{workdir / 'http.db'}"
            self._served: EventStore = connect(self._sqlite_url)
            self.persistent = True
        else:
            self._served = MemoryStore()
        self._server = ServerThread(
            create_app(self._served, heartbeat_seconds=_HEARTBEAT_SECONDS, progress_seconds=_PROGRESS_SECONDS)
        ).start()

    @property
    def url(self) -> str | None:
        return self._sqlite_url

    def _open(self, **options: Any) -> EventStore:
        return HTTPStore(self._server.url, **options)

    def cleanup(self) -> None:
        try:
            super().cleanup()
        finally:
            try:
                self._server.stop()
            finally:
                self._served.close()
