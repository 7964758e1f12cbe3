"""What keeps the server safe to expose: bearer tokens, browser rules, body limits, stream quotas, listen rules."""

from __future__ import annotations

import hmac
import ipaddress
import threading
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import Scope

from ._problems import Problem

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_STREAMS_PER_CLIENT = 64
DEFAULT_MAX_STREAMS_PER_NAMESPACE = 256
# Routes that answer without a token: probes and the API description hold nothing secret.
PUBLIC_PATHS = frozenset({"/healthz", "/openapi.json"})


def _bearer(authorization: str | None) -> bytes | None:
    if not authorization:
        return None
    scheme, _, given = authorization.partition(" ")
    return given.strip().encode() if scheme.lower() == "bearer" else None


@dataclass(frozen=True)
class Principal:
    """What one request's token reaches: namespace administration (and so every namespace), or some namespaces."""

    admin: bool
    namespaces: frozenset[str]

    def reaches(self, namespace: str) -> bool:
        """Whether this token may use the log of ``namespace``."""
        return self.admin or namespace in self.namespaces


_OPEN = Principal(admin=True, namespaces=frozenset())


@dataclass(frozen=True)
class Access:
    """The tokens of a server (docs/server.md, "Namespaces"): who reaches which namespace.

    ``admin_token`` administers namespaces and reaches every one. ``token`` reaches the default namespace;
    without an admin token it is the admin token (a server with one ``--token`` behaves as before namespaces).
    ``namespace_tokens`` maps a namespace to the token that reaches it (and nothing else). Without any token,
    everything is open. Every configured token is compared, in constant time, on every request, so the time
    an answer takes does not say which token (or how much of one) matched.
    """

    token: str | None = None
    admin_token: str | None = None
    namespace_tokens: Mapping[str, str] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        """Whether requests need a token at all."""
        return bool(self.token or self.admin_token or self.namespace_tokens)

    def principal(self, authorization: str | None) -> Principal | None:
        """What the request's bearer token reaches; None when it is missing or matches no token."""
        if not self.enabled:
            return _OPEN
        given = _bearer(authorization) or b""
        admin = self.admin_token if self.admin_token else self.token
        is_admin = _same(given, admin)
        reached = {"default"} if self.admin_token and _same(given, self.token) else set()
        for namespace, token in self.namespace_tokens.items():
            if _same(given, token):
                reached.add(namespace)
        if not is_admin and not reached:
            return None
        return Principal(admin=is_admin, namespaces=frozenset(reached))


def _same(given: bytes, token: str | None) -> bool:
    # Compared even when absent (against a token that cannot match) so that every request does the same work.
    matched = hmac.compare_digest(given, (token or "\x00no token").encode())
    return matched and bool(token) and bool(given)


def is_loopback(host: str) -> bool:
    """Return whether ``host`` names only this machine (``localhost`` or a loopback address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# Methods a browser page may send to another origin without asking first; anything else changes something.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# GET routes that change something: a durable stream holds its name (and `reset=true` rewrites its cursor).
_CHANGING_GET_PREFIX = "/streams/"


@dataclass(frozen=True)
class BrowserRules:
    """What protects a server that browsers can reach from pages of other sites (CSRF, DNS rebinding).

    ``allowed_hosts``: extra ``Host`` header values accepted (``name`` for any port, ``name:port``, or ``*``
    for any Host at all). ``allowed_origins``: pages of these origins may send any request (``--cors-origin``
    origins are included).
    """

    allowed_hosts: frozenset[str] = frozenset()
    allowed_origins: frozenset[str] = frozenset()

    @classmethod
    def of(cls, allowed_hosts: Iterable[str], allowed_origins: Iterable[str]) -> BrowserRules:
        """Build the rules from option values, normalised to lower case without a trailing slash."""
        return cls(
            frozenset(host.strip().lower() for host in allowed_hosts if host.strip()),
            frozenset(origin.strip().lower().rstrip("/") for origin in allowed_origins if origin.strip()),
        )

    def refusal(self, scope: Scope) -> Problem | None:
        """Return why a request is refused before anything else looks at it, or None when it may go on."""
        headers = Headers(scope=scope)
        host = headers.get("host")
        if host is not None and not self._host_allowed(host, scope):
            return Problem(
                403,
                "host_not_allowed",
                f"this server does not answer to the host {host!r}; start it with --allowed-host to allow it",
            )
        method = scope["method"]
        if (method not in _SAFE_METHODS or scope["path"].startswith(_CHANGING_GET_PREFIX)) and self._foreign(
            headers, host
        ):
            origin = headers.get("origin", "a page of another site")
            return Problem(
                403,
                "origin_not_allowed",
                f"requests from {origin} may not change anything here; start the server with --allowed-origin "
                "(or --cors-origin) to allow that origin",
            )
        if (method == "POST" or _has_body(headers)) and not _is_json(headers):
            return Problem(
                415,
                "unsupported_media_type",
                "a request body must be JSON, sent with Content-Type: application/json",
            )
        return None

    def _host_allowed(self, host: str, scope: Scope) -> bool:
        host = host.strip().lower()
        if "*" in self.allowed_hosts or host in self.allowed_hosts:
            return True
        name, port = _split_host(host, scope.get("scheme", "http"))
        if name in self.allowed_hosts:
            return True
        server = scope.get("server")
        if server is not None and is_loopback(server[0]):
            # A connection to a loopback address: a page that made a browser resolve its own name to this
            # machine (DNS rebinding) sends that name. Only loopback names with this very port are ours.
            return is_loopback(name) and port == server[1]
        # An address is never a rebound name (a page at http://10.0.0.5/ talks to 10.0.0.5 itself), and probes
        # such as Kubernetes' send the pod's address: only names need listing.
        return not self.allowed_hosts or _is_address(name)

    def _foreign(self, headers: Headers, host: str | None) -> bool:
        """Whether the request comes from a browser page of another origin that is not allowed."""
        origin = headers.get("origin")
        if origin is not None:
            origin = origin.strip().lower().rstrip("/")
            if origin in self.allowed_origins:
                return False
            parts = urllib.parse.urlsplit(origin)
            same = parts.scheme in ("http", "https") and host is not None and parts.netloc == host.strip().lower()
            return not same
        # No Origin (a plain GET from a form, a link, an image): browsers still say where it came from.
        return headers.get("sec-fetch-site") in ("cross-site", "same-site")


def _split_host(host: str, scheme: str) -> tuple[str, int | None]:
    """Split a Host header into its name and port (the scheme's default port when it has none)."""
    default = 443 if scheme == "https" else 80
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name += "]"
        port_text = rest.removeprefix(":") if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            return host, None
    else:
        name, _, port_text = host.partition(":")
    if not port_text:
        return name, default
    return (name, int(port_text)) if port_text.isascii() and port_text.isdigit() else (host, None)


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def _has_body(headers: Headers) -> bool:
    length = headers.get("content-length")
    return headers.get("transfer-encoding") is not None or (length is not None and length.strip() not in ("", "0"))


def _is_json(headers: Headers) -> bool:
    media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
    return media_type == "application/json"


def check_listen_address(host: str, token: str | None, insecure: bool) -> None:
    """Refuse to listen beyond this machine without a token, unless the operator said ``insecure``.

    ``token`` is any of the server's tokens (``--token``, ``--admin-token``, a ``--namespace-token``).
    """
    if token or insecure or is_loopback(host):
        return
    raise SystemExit(f"refusing to listen on {host} without a token: set --token or FACTSTR_TOKEN, or pass --insecure")


async def read_body(request: Request, limit: int) -> bytes:
    """Read a request body, refusing with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "payload_too_large", f"the request body is above the limit of {limit} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "payload_too_large", f"the request body is above the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class StreamQuota:
    """Counts open streams per client address and refuses more than ``limit`` at a time."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> None:
        """Count one more stream for ``client`` or raise a 429 problem."""
        with self._lock:
            count = self._open.get(client, 0)
            if count >= self._limit:
                raise Problem(
                    429,
                    "too_many_streams",
                    f"this client already has {count} open streams (limit {self._limit})",
                )
            self._open[client] = count + 1

    def give_back(self, client: str) -> None:
        """Count one stream of ``client`` as closed."""
        with self._lock:
            count = self._open.get(client, 0) - 1
            if count > 0:
                self._open[client] = count
            else:
                self._open.pop(client, None)


class NamespaceQuota:
    """The stream limits of one namespace: at most ``limit`` open streams in it, and the per-client limit.

    The per-client counts are shared by every namespace of the server (one :class:`StreamQuota`); the
    namespace count keeps one tenant from taking every stream the server can hold.
    """

    def __init__(self, clients: StreamQuota, limit: int, namespace: str) -> None:
        self._clients = clients
        self._limit = limit
        self._namespace = namespace
        self._open = 0
        self._lock = threading.Lock()

    def take(self, client: str) -> None:
        """Count one more stream of ``client`` in this namespace, or raise a 429 problem."""
        with self._lock:
            if self._open >= self._limit:
                raise Problem(
                    429,
                    "too_many_streams",
                    f"namespace {self._namespace!r} already has {self._open} open streams (limit {self._limit})",
                )
            self._open += 1
        try:
            self._clients.take(client)
        except BaseException:
            with self._lock:
                self._open -= 1
            raise

    def give_back(self, client: str) -> None:
        """Count one stream of ``client`` in this namespace as closed."""
        self._clients.give_back(client)
        with self._lock:
            self._open = max(0, self._open - 1)
