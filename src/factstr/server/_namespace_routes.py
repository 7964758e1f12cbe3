"""The namespace gate and the routes that administer namespaces (docs/server.md, "Namespaces").

Every route of the store contract exists once per namespace under ``/ns/{name}``; the unprefixed routes are the
default namespace. :class:`NamespaceGate` (pure ASGI, where the token gate used to be) reads the namespace from
the path, checks the request's token against it, resolves it to that namespace's state (its store, streams,
quotas and statistics) and hands the request on with ``root_path`` extended by the prefix, so the one route
table serves every namespace unchanged.

The order of the checks is what keeps namespaces private: a token that matches nothing gets 401; a token that
does not reach the namespace named in the path gets 403 before anything looks the namespace up, so the answer
is the same whether it exists or not; only then does a missing namespace get 404.
"""

from __future__ import annotations

import contextlib
import time

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .._errors import InvalidInput
from .._namespaces import DEFAULT_NAMESPACE, check_namespace_name
from ._codec import decode
from ._metrics import NamespaceGauges
from ._namespaces import NamespaceRegistry, unknown_namespace
from ._problems import Problem, problem_response
from ._routes import _flag, endpoint
from ._security import PUBLIC_PATHS, Access, read_body
from ._ui import is_ui_path

NAMESPACE_PREFIX = "/ns/"
# The routes a namespace prefix may lead to; the others (administration, metrics, the API description, the
# inspector's files) belong to the server as a whole.
_NAMESPACED = frozenset({"/append", "/append_if", "/query", "/head", "/durable_streams", "/stats", "/log", "/healthz"})
_NAMESPACED_PREFIXES = ("/streams/", "/durable_streams/")
# Routes outside any namespace that only namespace administration may use.
_ADMIN_PATHS = ("/namespaces", "/metrics")


def _namespaced(rest: str) -> bool:
    return rest in _NAMESPACED or rest.startswith(_NAMESPACED_PREFIXES)


class CreateIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    ephemeral: bool = False
    idle_timeout_seconds: float | None = None


def _registry(request: Request) -> NamespaceRegistry:
    registry: NamespaceRegistry = request.app.state.factstr_namespaces
    return registry


class NamespaceGate:
    """Pure ASGI middleware: tokens and namespaces, before any route (see the module docstring)."""

    def __init__(self, app: ASGIApp, registry: NamespaceRegistry, access: Access) -> None:
        self._app = app
        self._registry = registry
        self._access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in PUBLIC_PATHS or is_ui_path(path):
            await self._app(scope, receive, send)
            return
        name: str | None = DEFAULT_NAMESPACE
        prefix = ""
        if path.startswith(NAMESPACE_PREFIX):
            name, slash, rest = path[len(NAMESPACE_PREFIX) :].partition("/")
            prefix = NAMESPACE_PREFIX + name
            if not slash or not _namespaced("/" + rest):
                await problem_response(Problem(404, "not_found", f"no route for {path}"))(scope, receive, send)
                return
        elif path in _ADMIN_PATHS or path.startswith("/namespaces/"):
            name = None
        problem = self._refusal(scope, name)
        if problem is None and name is not None:
            namespace = await self._registry.resolve(name)
            if namespace is None:
                problem = unknown_namespace()
        if problem is not None:
            await problem_response(problem)(scope, receive, send)
            return
        if name is None:
            await self._app(scope, receive, send)
            return
        assert namespace is not None
        scope["root_path"] = scope.get("root_path", "") + prefix
        scope["factstr.state"] = namespace.state
        scope["factstr.namespace"] = name
        namespace.in_flight += 1
        try:
            await self._app(scope, receive, send)
        finally:
            namespace.in_flight -= 1
            namespace.last_used = time.monotonic()

    def _refusal(self, scope: Scope, name: str | None) -> Problem | None:
        """401 for a token that matches nothing, 403 for one that does not reach ``name``, 422 for a bad name."""
        principal = self._access.principal(Request(scope).headers.get("authorization"))
        if principal is None:
            return Problem(401, "unauthorized", "a valid bearer token is required")
        if name is None:
            if principal.admin:
                return None
            return Problem(403, "forbidden", "this token does not reach namespace administration")
        try:
            check_namespace_name(name)
        except InvalidInput as exc:
            return Problem(422, "invalid_input", str(exc))
        if not principal.reaches(name):
            # The same answer for a namespace that exists and one that does not.
            return Problem(403, "forbidden", "this token does not reach that namespace")
        return None


def _json(value: object, status: int = 200) -> Response:
    return Response(msgspec.json.encode(value), status, media_type="application/json")


@endpoint
async def create_namespace(request: Request) -> Response:
    data = await read_body(request, 64 * 1024)
    wire = decode(data or b"{}", CreateIn)
    namespace = await _registry(request).create(
        wire.name, ephemeral=wire.ephemeral, idle_timeout=wire.idle_timeout_seconds
    )
    return _json(NamespaceRegistry._info(namespace), 201)


@endpoint
async def list_namespaces(request: Request) -> Response:
    return _json({"namespaces": await _registry(request).existing()})


@endpoint
async def drop_namespace(request: Request) -> Response:
    await _registry(request).drop(request.path_params["name"], force=_flag(request, "force"))
    return Response(status_code=204)


@endpoint
async def metrics(request: Request) -> Response:
    registry = _registry(request)
    namespaces = registry.open_namespaces()

    def read() -> dict[str, NamespaceGauges]:
        gauges = {}
        for namespace in namespaces:
            state = namespace.state
            with contextlib.suppress(Exception):  # a namespace dropped meanwhile has a closed store
                gauges[namespace.name] = NamespaceGauges(
                    state.store.head(),
                    {"live": state.hub.count("live"), "durable": state.hub.count("durable")},
                    state.store.durable_streams(),
                )
        return gauges

    gauges = await run_in_threadpool(read)
    text = registry.default.state.server_metrics.render(gauges)
    return Response(text, media_type="text/plain; version=0.0.4")


NAMESPACE_ROUTES = [
    Route("/namespaces", create_namespace, methods=["POST"]),
    Route("/namespaces", list_namespaces, methods=["GET"]),
    Route("/namespaces/{name}", drop_namespace, methods=["DELETE"]),
    Route("/metrics", metrics, methods=["GET"]),
]
