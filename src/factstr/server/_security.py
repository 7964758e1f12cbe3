"""What keeps the server safe to expose: bearer tokens, body limits, stream quotas, listen-address rules."""

from __future__ import annotations

import hmac
import ipaddress
import threading

from starlette.requests import Request

from ._problems import Problem

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_STREAMS_PER_CLIENT = 64
# Routes that answer without a token: probes and the API description hold nothing secret.
PUBLIC_PATHS = frozenset({"/healthz", "/openapi.json"})


def token_matches(authorization: str | None, token: str) -> bool:
    """Return whether an Authorization header carries ``token`` as a bearer token (constant-time compare)."""
    if not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def is_loopback(host: str) -> bool:
    """Return whether ``host`` names only this machine (``localhost`` or a loopback address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen_address(host: str, token: str | None, insecure: bool) -> None:
    """Refuse to listen beyond this machine without a token, unless the operator said ``insecure``."""
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
