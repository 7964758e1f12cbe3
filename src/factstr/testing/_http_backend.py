"""The ``http`` test backend: the conformance suite through the HTTP API.

Each test gets a real server (uvicorn on a free loopback port, on a background thread) over a fresh store, and
``open()`` returns an :class:`~factstr.client.HTTPStore` talking to it, so every behaviour is checked end to
end: JSON bodies, error codes, server-sent events, acknowledgements. The store behind the server is SQLite in
the test's directory when SQLite is available (then a subprocess can share it through ``url``), else Memory.

The ``http-ns-*`` backends run the same suite in a namespace (issue 17): one server per store kind serves the
whole run, and each test gets a fresh ephemeral namespace on it, dropped afterwards.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
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


class _SharedServer:
    """One server per store kind for a whole test run: each test gets its own namespace on it.

    Creating a namespace takes milliseconds where starting a server takes a good part of a second, which is
    what keeps the namespace variants of the suite cheap (and is what they test: a namespace is a whole log).
    """

    def __init__(self, kind: str, workdir: Path) -> None:
        from ..server import ServerThread, create_app

        self.kind = kind
        self._drop: Callable[[], None] = lambda: None
        if kind == "memory":
            self.served: EventStore = MemoryStore()
        elif kind == "sqlite":
            from .._connect import connect

            self.served = connect(f"sqlite:///{workdir / 'served.db'}")
        else:
            from . import _postgres_backend

            _postgres_backend.require_server()
            # Short: a namespace's schema is this name, "_ns_" and the namespace's (up to 63 bytes in all).
            schema = f"fns_{uuid.uuid4().hex[:8]}"
            self.served = connect_postgres(_postgres_backend.url_with_schema(schema))

            def drop() -> None:
                _postgres_backend.drop_schema(schema)

            self._drop = drop
        self.server = ServerThread(
            create_app(
                self.served,
                heartbeat_seconds=_HEARTBEAT_SECONDS,
                progress_seconds=_PROGRESS_SECONDS,
                max_namespaces=10_000,
            )
        ).start()
        self.admin = HTTPStore(self.server.url)

    def stop(self) -> None:
        try:
            self.admin.close()
            self.server.stop()  # drops the ephemeral namespaces left
        finally:
            self.served.close()
            self._drop()


_shared: dict[str, _SharedServer] = {}
_shared_lock = threading.Lock()


def _shared_server(kind: str) -> _SharedServer:
    with _shared_lock:
        server = _shared.get(kind)
        if server is None:
            workdir = Path(tempfile.mkdtemp(prefix="factstr-ns-"))
            server = _shared[kind] = _SharedServer(kind, workdir)
            atexit.register(_stop_shared, kind, workdir)
        return server


def stop_shared_servers() -> None:
    """Stop the shared servers of the namespace backends (the plugin calls it when the test session ends)."""
    for kind in list(_shared):
        server = _shared.pop(kind, None)
        if server is not None:
            server.stop()


def _stop_shared(kind: str, workdir: Path) -> None:
    server = _shared.pop(kind, None)
    try:
        if server is not None:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def connect_postgres(url: str) -> EventStore:
    from ..postgres import PostgresStore

    return PostgresStore(url)


class NamespaceBackend(Backend):
    """An ephemeral namespace on a server shared by the whole run; ``open()`` is a new client of it."""

    kind = ""
    shares_database = True

    def __init__(self, workdir: Any) -> None:
        super().__init__(workdir)
        self._shared = _shared_server(self.kind)
        self.persistent = self.kind != "memory"
        with self._shared.admin.create_namespace(ephemeral=True, idle_timeout=3600) as client:
            self.namespace = client.namespace

    @property
    def url(self) -> str | None:
        storage = self._shared.served
        if self.kind == "sqlite":
            return f"sqlite:///{storage.path}.namespaces/{self.namespace}.db"  # type: ignore[attr-defined]
        if self.kind == "postgres":
            from . import _postgres_backend

            return _postgres_backend.url_with_schema(f"{storage._target.schema}_ns_{self.namespace}")  # type: ignore[attr-defined]
        return None

    def _open(self, **options: Any) -> EventStore:
        return HTTPStore(self._shared.server.url, namespace=self.namespace, **options)

    def cleanup(self) -> None:
        try:
            super().cleanup()
        finally:
            self._shared.admin.drop_namespace(self.namespace, force=True)


class MemoryNamespaceBackend(NamespaceBackend):
    name = "http-ns-memory"
    kind = "memory"


class SQLiteNamespaceBackend(NamespaceBackend):
    name = "http-ns-sqlite"
    kind = "sqlite"


class PostgresNamespaceBackend(NamespaceBackend):
    name = "http-ns-postgres"
    kind = "postgres"
