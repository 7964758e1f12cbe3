"""The ASGI application: routes, the gates every request passes (browser rules, token, log, metrics), lifecycle."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._namespaces import DEFAULT_NAMESPACE, NamespaceStorage, storage_for
from .._store import EventStore
from ._metrics import UNMATCHED, Metrics
from ._namespace_routes import NAMESPACE_ROUTES, NamespaceGate
from ._namespaces import DEFAULT_MAX_NAMESPACES, NamespaceRegistry, configured_namespaces
from ._problems import Problem, problem_response
from ._routes import ROUTES
from ._security import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_STREAMS_PER_CLIENT,
    DEFAULT_MAX_STREAMS_PER_NAMESPACE,
    Access,
    BrowserRules,
    NamespaceQuota,
    StreamQuota,
)
from ._sse import DEFAULT_STALL_SECONDS, DEFAULT_STREAM_BUFFER_BYTES, ServerStream, StreamHub
from ._stats import STATS_ROUTES, LogStatistics
from ._ui import UI_ROUTES

access_logger = logging.getLogger("factstr.server.access")
stream_logger = logging.getLogger("factstr.server")

DEFAULT_HEARTBEAT_SECONDS = 15.0
DEFAULT_PROGRESS_SECONDS = 0.2


@dataclass(frozen=True)
class Settings:
    """How one app behaves; every limit has a safe default."""

    token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_streams_per_client: int = DEFAULT_MAX_STREAMS_PER_CLIENT
    max_streams_per_namespace: int = DEFAULT_MAX_STREAMS_PER_NAMESPACE
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    progress_seconds: float = DEFAULT_PROGRESS_SECONDS
    stream_buffer_bytes: int = DEFAULT_STREAM_BUFFER_BYTES
    stream_stall_seconds: float = DEFAULT_STALL_SECONDS
    browser_rules: BrowserRules = field(default_factory=BrowserRules)


class ServerState:
    """What the routes of one namespace share: its store, open streams, quotas, statistics; and the settings.

    The server's metrics and per-client stream counts are shared by every namespace (pass them in).
    """

    def __init__(
        self,
        store: EventStore,
        settings: Settings,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        metrics: Metrics | None = None,
        clients: StreamQuota | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.namespace = namespace
        self.hub = StreamHub()
        self.server_metrics = metrics if metrics is not None else Metrics()
        self.metrics = self.server_metrics.of(namespace)
        self.clients = clients if clients is not None else StreamQuota(settings.max_streams_per_client)
        self.quota = NamespaceQuota(self.clients, settings.max_streams_per_namespace, namespace)
        self.statistics = LogStatistics(store)

    def for_namespace(self, store: EventStore, namespace: str) -> ServerState:
        """The state of another namespace of the same server."""
        return ServerState(store, self.settings, namespace=namespace, metrics=self.server_metrics, clients=self.clients)

    async def stream_closed(self, stream: ServerStream) -> None:
        """Forget a stream whose response finished."""
        self.hub.discard(stream)
        self.quota.give_back(stream.client)
        stream_logger.info(
            "stream %s ended (%s)",
            stream.id,
            stream.end_reason,
            extra={"stream_id": stream.id, "reason": stream.end_reason, "durable_name": stream.durable_name},
        )


class _Gate:
    """Pure ASGI middleware around everything: browser rules, then timing, one log line and the metrics.

    Pure ASGI (not BaseHTTPMiddleware) so that event streams pass through unbuffered.
    """

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self._app = app
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None  # None: no answer went out (the client left first)
        streaming = False

        async def watch(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                streaming = (b"content-type", b"text/event-stream; charset=utf-8") in message.get("headers", ())
            await send(message)

        try:
            refusal = self._state.settings.browser_rules.refusal(scope)
            if refusal is not None:
                await problem_response(refusal)(scope, receive, watch)
                return
            await self._app(scope, receive, watch)
        except Exception:
            status = status or 500  # the app failed: the error middleware outside answers 500
            raise
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            route_name = getattr(route, "path", None) or UNMATCHED
            # A stream lasts as long as its client wants: count it, but keep it out of the latency histogram.
            namespace = scope.get("factstr.namespace", "")
            seconds = None if streaming else elapsed
            self._state.server_metrics.observe(namespace, route_name, scope["method"], status, seconds)
            client = scope.get("client")
            access_logger.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status if status is not None else "(client gone)",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "client": client[0] if client else None,
                },
            )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return problem_response(Problem(405, "method_not_allowed", f"{request.method} is not allowed here"))
    if exc.status_code == 404:
        return problem_response(Problem(404, "not_found", f"no route for {request.url.path}"))
    return problem_response(Problem(exc.status_code, "invalid_input", str(exc.detail)))


async def _internal_error(request: Request, exc: Exception) -> Response:
    # Starlette logs the exception itself; the answer never carries it.
    return problem_response(Problem(500, "internal_error", "the server failed; see its log"))


def create_app(
    store: EventStore,
    *,
    token: str | None = None,
    admin_token: str | None = None,
    namespace_tokens: Mapping[str, str] | None = None,
    namespace_storage: NamespaceStorage | None = None,
    namespace_dir: str | None = None,
    max_namespaces: int = DEFAULT_MAX_NAMESPACES,
    max_streams_per_namespace: int = DEFAULT_MAX_STREAMS_PER_NAMESPACE,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_streams_per_client: int = DEFAULT_MAX_STREAMS_PER_CLIENT,
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
    progress_seconds: float = DEFAULT_PROGRESS_SECONDS,
    stream_buffer_bytes: int = DEFAULT_STREAM_BUFFER_BYTES,
    stream_stall_seconds: float = DEFAULT_STALL_SECONDS,
    cors_origins: Sequence[str] = (),
    allowed_hosts: Sequence[str] = (),
    allowed_origins: Sequence[str] = (),
    ui_admin: bool = False,
) -> Starlette:
    """Return the ASGI app serving ``store`` over HTTP.

    The caller owns the store: the app never closes it. When ``token`` is given, every route except
    ``/healthz``, ``/openapi.json`` and the web inspector's files under ``/ui`` needs
    ``Authorization: Bearer <token>``. CORS stays off unless ``cors_origins`` lists the allowed origins.
    Browser rules (docs/server.md, "Browsers"): on a loopback connection only loopback Host names with the
    connection's port are answered, plus ``allowed_hosts``; pages of other origins may not change anything
    unless listed in ``allowed_origins`` or ``cors_origins``; request bodies must be JSON. On shutdown (the
    ASGI lifespan, or :func:`serve`) every open stream gets an ``end`` message and its store stream is
    stopped. The inspector may reset and delete durable cursors only when ``ui_admin`` is true.

    Namespaces (docs/server.md, "Namespaces"): every route also exists under ``/ns/{name}``, for independent
    logs kept by ``namespace_storage`` (by default the one that goes with ``store``'s kind; SQLite namespaces
    live in ``namespace_dir``, by default ``<database file>.namespaces``). ``admin_token`` administers them;
    ``namespace_tokens`` maps a namespace to the one token that reaches it (it is created if missing); without
    ``admin_token``, ``token`` administers too.
    """
    tokens = dict(namespace_tokens or {})
    state = ServerState(
        store,
        Settings(
            token=token or None,
            max_body_bytes=max_body_bytes,
            max_streams_per_client=max_streams_per_client,
            max_streams_per_namespace=max_streams_per_namespace,
            heartbeat_seconds=heartbeat_seconds,
            progress_seconds=progress_seconds,
            stream_buffer_bytes=stream_buffer_bytes,
            stream_stall_seconds=stream_stall_seconds,
            browser_rules=BrowserRules.of(allowed_hosts, [*allowed_origins, *cors_origins]),
        ),
    )

    statistics = state.statistics
    storage = namespace_storage if namespace_storage is not None else storage_for(store, namespace_dir)
    registry = NamespaceRegistry(state, storage, state.for_namespace, max_namespaces=max_namespaces)
    access = Access(token or None, admin_token or None, tokens)
    for name in configured_namespaces(tokens):
        registry.ensure(name)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        registry.start()
        yield
        await registry.shutdown()
        await state.hub.shutdown()
        await run_in_threadpool(statistics.close)

    middleware = [Middleware(_Gate, state=state)]
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
            ),
        )
    middleware.append(Middleware(NamespaceGate, registry=registry, access=access))
    app = Starlette(
        routes=ROUTES + STATS_ROUTES + NAMESPACE_ROUTES + UI_ROUTES,
        middleware=middleware,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
        lifespan=lifespan,
    )
    # `/append/` is not `/append`: a redirect would make clients send their request twice.
    app.router.redirect_slashes = False
    app.state.factstr = state
    app.state.factstr_statistics = statistics
    app.state.factstr_namespaces = registry
    app.state.factstr_ui_admin = ui_admin
    return app


def server_state(app: Starlette) -> ServerState:
    """Return the shared state of an app made by :func:`create_app`."""
    state: ServerState = app.state.factstr
    return state


async def end_streams(app: Starlette) -> None:
    """End every stream of every namespace (graceful shutdown: each client gets ``end`` with ``shutdown``)."""
    registry: NamespaceRegistry = app.state.factstr_namespaces
    for namespace in registry.open_namespaces():
        await namespace.state.hub.shutdown()
