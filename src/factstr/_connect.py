"""``factstr.connect(url)``: open a store from a URL (C8)."""

from __future__ import annotations

from typing import Any

from ._errors import InvalidInput
from ._store import EventStore


def connect(url: str, **options: Any) -> EventStore:
    """Open the store a URL names; keyword options go to the store's constructor.

    ``memory://``; ``sqlite:///relative/file.db`` or ``sqlite:////absolute/file.db``;
    ``postgresql://user@host:port/database`` (also ``postgres://``); ``http://host:port`` for a
    ``factstr serve`` server (through :class:`factstr.client.HTTPStore`; ``http://host:port/ns/NAME`` for one
    of its namespaces). Raises InvalidInput for anything else.

    ``namespace=NAME`` opens that namespace instead of the default log: on a server (like ``/ns/NAME``), or,
    for SQLite and PostgreSQL, directly where ``factstr serve`` keeps it (created if missing, as the database is).
    """
    if not isinstance(url, str):
        raise InvalidInput(f"url must be a str, got {type(url).__name__}")
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise InvalidInput(f"{url!r} is not a store URL (expected memory://, sqlite:///..., postgresql://...)")
    scheme = scheme.lower()
    namespace = options.get("namespace")
    if namespace is not None and scheme not in ("http", "https"):
        del options["namespace"]
        return _open_namespace(connect(url, **options), namespace)
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


def _open_namespace(default: EventStore, namespace: object) -> EventStore:
    """Open a namespace of the database ``default`` is on, creating it if missing; ``default`` is closed."""
    from ._namespaces import DEFAULT_NAMESPACE, check_namespace_name, storage_for

    with default:
        name = check_namespace_name(namespace)
        if name == DEFAULT_NAMESPACE:
            raise InvalidInput("namespace='default' is the store itself: leave namespace out")
        storage = storage_for(default)
    if storage is None or storage.kind == "memory":
        raise InvalidInput("namespaces of a database need a SQLite or PostgreSQL URL (a memory:// store is one log)")
    return storage.open(name, create=storage.exists(name) is None)
