"""``factstr.connect(url)``: open a store from a URL (C8)."""

from __future__ import annotations

from typing import Any

from ._errors import InvalidInput
from ._store import EventStore


def connect(url: str, **options: Any) -> EventStore:
    """Open the store a URL names; keyword options go to the store's constructor.

    ``memory://``; ``sqlite:///relative/file.db`` or ``sqlite:////absolute/file.db``;
    ``postgresql://user@host:port/database`` (also ``postgres://``); ``http://host:port`` for a
    ``factstr serve`` server (through :class:`factstr.client.HTTPStore`). Raises InvalidInput for anything else.
    """
    if not isinstance(url, str):
        raise InvalidInput(f"url must be a str, got {type(url).__name__}")
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise InvalidInput(f"{url!r} is not a store URL (expected memory://, sqlite:///..., postgresql://...)")
    scheme = scheme.lower()
    if scheme == "memory":
        if rest:
            raise InvalidInput(f"memory:// takes nothing after the scheme, got {url!r}")
        from ._memory import MemoryStore

        return MemoryStore(**options)
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise InvalidInput(f"{url!r}: write sqlite:///relative/file.db or sqlite:////absolute/file.db")
        from .sqlite import SQLiteStore

        return SQLiteStore(rest[1:], **options)
    if scheme in ("postgresql", "postgres"):
        from .postgres import PostgresStore

        return PostgresStore("postgresql://" + rest, **options)
    if scheme in ("http", "https"):
        from .client import HTTPStore

        return HTTPStore(url, **options)
    raise InvalidInput(f"unknown store URL scheme {scheme!r} in {url!r} (memory, sqlite, postgresql, http)")
