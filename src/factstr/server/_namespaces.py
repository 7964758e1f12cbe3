"""The namespaces of one server: the default one, those it opened, and their lifecycle (issue 17).

Each namespace has its own :class:`ServerState` (store, streams, quotas, statistics); the storage of the
server's store kind (``factstr._namespaces``) creates, finds and drops them. The gate and the routes that use
this registry are in ``_namespace_routes``.

An ephemeral namespace is dropped by the server that created it when nobody used it for its idle timeout (no
request and no open stream), and when that server shuts down gracefully. Its mark is stored with it (a marker
file, a schema comment), so a server started later on the same database drops a left-over one after the idle
timeout as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec
from starlette.concurrency import run_in_threadpool

from .._errors import InvalidInput
from .._namespaces import DEFAULT_NAMESPACE, Found, NamespaceStorage, check_namespace_name
from .._store import EventStore
from ._problems import Problem

if TYPE_CHECKING:
    from ._app import ServerState

logger = logging.getLogger("factstr.server")

DEFAULT_MAX_NAMESPACES = 100
DEFAULT_IDLE_TIMEOUT_SECONDS = 300.0
MAX_IDLE_TIMEOUT_SECONDS = 7 * 24 * 3600.0
# How often the server looks for idle ephemeral namespaces.
_REAP_INTERVAL_SECONDS = 1.0
# The end reason streams of a namespace dropped with force=true receive.
NAMESPACE_DROPPED = "namespace_dropped"


@dataclass
class Namespace:
    """One open namespace of this server."""

    name: str
    state: ServerState
    ephemeral: bool = False
    idle_timeout: float | None = None
    in_flight: int = 0
    last_used: float = field(default_factory=time.monotonic)

    def open_streams(self) -> int:
        return self.state.hub.count("live") + self.state.hub.count("durable")

    def idle_for(self, now: float) -> float:
        if self.in_flight or self.open_streams():
            return 0.0
        return now - self.last_used

    def expired(self, now: float) -> bool:
        """Whether this is an ephemeral namespace unused for longer than its idle timeout."""
        timeout = self.idle_timeout
        return self.ephemeral and timeout is not None and self.idle_for(now) > timeout


class NamespaceInfo(msgspec.Struct):
    name: str
    ephemeral: bool
    idle_timeout_seconds: float | None
    open_streams: int | None


class NamespaceRegistry:
    """The namespaces of one server: the default one (always there) and those of its storage.

    Opening, creating and dropping take turns on one lock; store calls run in the thread pool.
    """

    def __init__(
        self,
        default: ServerState,
        storage: NamespaceStorage | None,
        make_state: Callable[[EventStore, str], ServerState],
        *,
        max_namespaces: int = DEFAULT_MAX_NAMESPACES,
    ) -> None:
        self.default = Namespace(DEFAULT_NAMESPACE, default)
        self.storage = storage
        self._make_state = make_state
        self.max_namespaces = max_namespaces
        self._open: dict[str, Namespace] = {}
        self._lock = asyncio.Lock()
        self._reaper: asyncio.Task[None] | None = None

    # --- lookups ---------------------------------------------------------------------------------------

    async def resolve(self, name: str) -> Namespace | None:
        """The open namespace ``name``, opening it if its storage holds it (another process may have made it)."""
        if name == DEFAULT_NAMESPACE:
            return self.default
        found = self._open.get(name)
        if found is not None or self.storage is None:
            return found
        async with self._lock:
            found = self._open.get(name)
            if found is not None:
                return found
            held = await run_in_threadpool(self.storage.exists, name)
            if held is None:
                return None
            return await self._open_found(held, create=False)

    async def _open_found(self, found: Found, *, create: bool) -> Namespace:
        assert self.storage is not None
        storage = self.storage
        store = await run_in_threadpool(
            lambda: storage.open(found.name, create=create, ephemeral=found.ephemeral, idle_timeout=found.idle_timeout)
        )
        namespace = Namespace(found.name, self._make_state(store, found.name), found.ephemeral, found.idle_timeout)
        self._open[found.name] = namespace
        return namespace

    async def existing(self) -> list[NamespaceInfo]:
        """Every namespace: the default one, those open here, and those the storage holds."""
        listed = {name: self._info(namespace) for name, namespace in self._open.items()}
        if self.storage is not None:
            for found in await run_in_threadpool(self.storage.find):
                if found.name not in listed:
                    listed[found.name] = NamespaceInfo(found.name, found.ephemeral, found.idle_timeout, None)
        return [self._info(self.default), *(listed[name] for name in sorted(listed))]

    @staticmethod
    def _info(namespace: Namespace) -> NamespaceInfo:
        return NamespaceInfo(namespace.name, namespace.ephemeral, namespace.idle_timeout, namespace.open_streams())

    def open_namespaces(self) -> list[Namespace]:
        """The default namespace and every namespace open on this server."""
        return [self.default, *self._open.values()]

    # --- administration --------------------------------------------------------------------------------

    async def create(self, name: str | None, *, ephemeral: bool, idle_timeout: float | None) -> Namespace:
        """Create a namespace (a generated name when ``name`` is None); Problem when it cannot be."""
        if self.storage is None:
            raise Problem(409, "namespaces_unsupported", "this server's store cannot hold namespaces")
        if name is None:
            name = "ns-" + secrets.token_hex(8)
        check_namespace_name(name)
        if name == DEFAULT_NAMESPACE:
            raise Problem(409, "namespace_exists", "the default namespace always exists")
        if idle_timeout is not None and not ephemeral:
            raise InvalidInput("idle_timeout_seconds is for ephemeral namespaces only")
        if ephemeral:
            if idle_timeout is None:
                idle_timeout = DEFAULT_IDLE_TIMEOUT_SECONDS
            if not 0 < idle_timeout <= MAX_IDLE_TIMEOUT_SECONDS:
                raise InvalidInput(
                    f"idle_timeout_seconds must be above 0 and at most {MAX_IDLE_TIMEOUT_SECONDS:g}, "
                    f"got {idle_timeout!r}"
                )
        storage = self.storage
        async with self._lock:
            if name in self._open or await run_in_threadpool(storage.exists, name) is not None:
                raise Problem(409, "namespace_exists", f"a namespace named {name!r} exists already")
            held = len(self._open) if storage.kind == "memory" else len(await run_in_threadpool(storage.find))
            if held >= self.max_namespaces:
                raise Problem(
                    429,
                    "too_many_namespaces",
                    f"this server holds {held} namespaces, its limit (--max-namespaces {self.max_namespaces})",
                )
            namespace = await self._open_found(Found(name, ephemeral, idle_timeout), create=True)
        logger.info("namespace %s created", name, extra={"namespace": name, "ephemeral": ephemeral})
        return namespace

    async def drop(self, name: str, *, force: bool, only_if_idle: bool = False) -> None:
        """Drop a namespace and everything in it; refused while it has open streams unless ``force``.

        ``only_if_idle`` (the idle reaper): drop it only if it is still an ephemeral namespace past its idle
        timeout once the lock is taken, since a request may have started while the lock was awaited.
        """
        check_namespace_name(name)
        if name == DEFAULT_NAMESPACE:
            raise Problem(409, "namespace_busy", "the default namespace cannot be dropped")
        if self.storage is None:
            raise unknown_namespace()
        storage = self.storage
        async with self._lock:
            namespace = self._open.get(name)
            if namespace is None:
                if await run_in_threadpool(storage.exists, name) is None:
                    raise unknown_namespace()
                await run_in_threadpool(storage.drop, name)
                return
            if only_if_idle and not namespace.expired(time.monotonic()):
                return
            streams = namespace.open_streams()
            if streams and not force:
                raise Problem(
                    409,
                    "namespace_busy",
                    f"namespace {name!r} has {streams} open streams; drop it with force=true to end them",
                )
            del self._open[name]
        await self._close(namespace, NAMESPACE_DROPPED)
        await run_in_threadpool(storage.drop, name)
        namespace.state.server_metrics.forget(name)
        logger.info("namespace %s dropped", name, extra={"namespace": name})

    async def _close(self, namespace: Namespace, reason: str) -> None:
        await namespace.state.hub.end_all(reason)
        await run_in_threadpool(namespace.state.statistics.close)
        await run_in_threadpool(namespace.state.store.close)

    def ensure(self, name: str) -> None:
        """Create namespace ``name`` unless it exists (at server start, for a configured token); blocks."""
        if self.storage is None:
            raise ValueError(f"namespace {name!r} has a token, but this server's store cannot hold namespaces")
        if self.storage.kind == "memory":
            if name not in self._open:
                self._open[name] = Namespace(name, self._make_state(self.storage.open(name, create=True), name))
        elif self.storage.exists(name) is None:
            self.storage.open(name, create=True).close()

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start watching ephemeral namespaces for idleness (on the app's event loop)."""
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        if self.storage is not None and self.storage.kind != "memory":
            # Ephemeral namespaces left by an earlier server: open them, so that their idle time counts from now.
            for found in await run_in_threadpool(self.storage.find):
                if found.ephemeral:
                    await self.resolve(found.name)
        while True:
            await asyncio.sleep(_REAP_INTERVAL_SECONDS)
            await self.reap()

    async def reap(self) -> None:
        """Drop every ephemeral namespace idle for longer than its idle timeout."""
        now = time.monotonic()
        for namespace in list(self._open.values()):
            if namespace.expired(now):
                logger.info("namespace %s idle: dropping it", namespace.name, extra={"namespace": namespace.name})
                with contextlib.suppress(Problem):
                    await self.drop(namespace.name, force=False, only_if_idle=True)

    async def shutdown(self) -> None:
        """End every stream of every namespace; close their stores; drop the ephemeral namespaces."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        async with self._lock:
            namespaces, self._open = list(self._open.values()), {}
        for namespace in namespaces:
            await self._close(namespace, "shutdown")
            if namespace.ephemeral and self.storage is not None:
                await run_in_threadpool(self.storage.drop, namespace.name)


def unknown_namespace() -> Problem:
    """The answer for a namespace that does not exist."""
    return Problem(404, "unknown_namespace", "no namespace of that name on this server")


def configured_namespaces(tokens: Iterable[str]) -> list[str]:
    """The namespace names of ``--namespace-token`` options, each checked against the name rule."""
    names = []
    for name in tokens:
        check_namespace_name(name)
        if name != DEFAULT_NAMESPACE:
            names.append(name)
    return names
