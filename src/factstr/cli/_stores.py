"""Opening the store a command names: only ``serve``, ``append`` and ``import`` may create one.

A typo in ``--store`` must not silently create an empty database that a read then reports as empty, so every
other command first checks that the store exists (a SQLite file; a PostgreSQL schema that FACTSTR created) and
refuses otherwise, creating nothing. ``--token`` (or ``FACTSTR_TOKEN``) goes to ``http://`` stores.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from .._connect import connect
from .._errors import BackendError, InvalidInput
from .._namespaces import DEFAULT_NAMESPACE, check_namespace_name, storage_for
from .._store import EventStore
from ._output import CommandError, UsageError

# Which extra brings which optional module: the message for a missing one names the pip command to run.
EXTRAS = {
    "psycopg": ("postgres", "PostgreSQL stores need psycopg"),
    "psycopg_pool": ("postgres", "PostgreSQL stores need psycopg_pool"),
    "starlette": ("server", "the HTTP server needs Starlette"),
    "uvicorn": ("server", "the HTTP server needs uvicorn"),
}


def missing_extra_message(error: ModuleNotFoundError) -> str | None:
    """The one-line advice for an optional dependency that is not installed, or ``None`` if it is not one."""
    root = (error.name or "").partition(".")[0]
    if root not in EXTRAS:
        return None
    extra, needs = EXTRAS[root]
    return f"{needs}, which is not installed: pip install 'factstr[{extra}]'"


def scheme_of(url: str) -> str:
    return url.partition("://")[0].lower()


def is_remote(url: str) -> bool:
    """Whether the URL names a ``factstr serve`` server rather than a database."""
    return scheme_of(url) in ("http", "https")


def store_exists(url: str) -> bool | None:
    """Whether the database a URL names exists already; ``None`` where that does not apply (memory, http)."""
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme == "sqlite" and rest.startswith("/") and rest != "/":
        return os.path.exists(rest[1:])
    if scheme in ("postgresql", "postgres"):
        return _postgres_store_exists(url)
    return None


def _postgres_store_exists(url: str) -> bool:
    import psycopg

    from ..postgres._connection import connect as connect_postgres
    from ..postgres._connection import parse_target

    target = parse_target(url, None)
    # A schema FACTSTR created has its version table; looking at the catalog creates nothing.
    with connect_postgres(target) as conn:
        try:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = %s AND tablename = %s)",
                [target.schema, "schema_version"],
            ).fetchone()
        except psycopg.Error as exc:
            raise BackendError(
                f"cannot look for schema {target.schema!r} at {target.host}:{target.port}: {exc}"
            ) from exc
    return bool(row and row[0])


def token_of(args: argparse.Namespace) -> str | None:
    """The bearer token for an ``http://`` store: ``--token``, else ``$FACTSTR_TOKEN``."""
    return getattr(args, "token", None) or os.environ.get("FACTSTR_TOKEN") or None


def _missing_store_message(url: str) -> str:
    scheme, _, rest = url.partition("://")
    if scheme.lower() == "sqlite":
        where = f"the file {os.path.abspath(rest[1:])} does not exist"
    else:
        where = "its database has no FACTSTR schema"
    return (
        f"no store at {url}: {where}. Check --store (or $FACTSTR_STORE); "
        "only serve, append and import create a new store"
    )


def open_store(
    args: argparse.Namespace, *, may_create: bool = False, uses_token: bool = True
) -> tuple[EventStore, bool]:
    """Open ``args.store``; return the store and whether this call created it.

    Without ``may_create``, a SQLite file or PostgreSQL schema that does not exist is refused with a clear
    message and nothing is created. ``uses_token=False`` is for ``serve``, whose ``--token`` is the one its
    own clients must send.
    """
    url: str = args.store
    options: dict[str, Any] = {}
    namespace = namespace_of(args)
    if uses_token and is_remote(url):
        token = token_of(args)
        if token:
            options["token"] = token
        if namespace:
            options["namespace"] = namespace
    elif uses_token and getattr(args, "token", None):
        raise UsageError(f"--token is for a server (--store http://...), not for {url}")
    exists = store_exists(url)
    if exists is False and not may_create:
        raise CommandError(_missing_store_message(url))
    if namespace and not is_remote(url):
        return _open_namespace(url, namespace, may_create=may_create, created=exists is False)
    store = connect(url, **options)
    return store, exists is False


def namespace_of(args: argparse.Namespace) -> str | None:
    """The namespace a command uses: ``--namespace``, else ``$FACTSTR_NAMESPACE``; None: the default log."""
    name = getattr(args, "namespace", None) or os.environ.get("FACTSTR_NAMESPACE") or None
    if name is None or name == DEFAULT_NAMESPACE:
        return None
    try:
        return check_namespace_name(name)
    except InvalidInput as exc:
        raise UsageError(f"--namespace: {exc}") from exc


def _open_namespace(url: str, namespace: str, *, may_create: bool, created: bool) -> tuple[EventStore, bool]:
    """Open a namespace of a database directly, where ``factstr serve`` over the same database keeps it."""
    with connect(url) as default:
        storage = storage_for(default)
    if storage is None or storage.kind == "memory":
        raise UsageError(f"--namespace needs a SQLite, PostgreSQL or http:// store, not {url}")
    exists = storage.exists(namespace) is not None
    if not exists and not may_create:
        raise CommandError(
            f"no namespace {namespace!r} in {url}; only serve, append and import create one (or POST /namespaces)"
        )
    return storage.open(namespace, create=not exists), created or not exists
