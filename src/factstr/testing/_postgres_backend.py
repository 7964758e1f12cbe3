"""The PostgreSQL test backend: a fresh schema per test in the server named by ``FACTSTR_POSTGRES_URL``.

When no server answers, tests skip with the reason, or fail when ``FACTSTR_REQUIRE_POSTGRES=1`` (as in CI).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from psycopg import sql

from .._store import EventStore
from ._backends import Backend

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
_PROBE_TIMEOUT_SECONDS = 3


def server_url() -> str:
    """The PostgreSQL server the tests use."""
    return os.environ.get("FACTSTR_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def require_server() -> None:
    """Skip (or fail, when FACTSTR_REQUIRE_POSTGRES=1) unless the test server answers."""
    try:
        with psycopg.connect(server_url(), connect_timeout=_PROBE_TIMEOUT_SECONDS) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = f"no PostgreSQL server answers at FACTSTR_POSTGRES_URL={server_url()!r}: {exc}"
        if os.environ.get("FACTSTR_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def drop_schema(schema: str) -> None:
    """Drop a test schema and everything in it."""
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def url_with_schema(schema: str) -> str:
    """A ``factstr.connect`` URL for ``schema`` on the test server."""
    base = server_url()
    separator = "&" if "?" in base else "?"
    return base + separator + urlencode({"schema": schema})


class PostgresBackend(Backend):
    """A unique schema on the test server, dropped after the test."""

    name = "postgres"
    shares_database = True
    persistent = True

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        require_server()
        self.schema = f"factstr_t_{uuid.uuid4().hex}"

    @property
    def url(self) -> str:
        return url_with_schema(self.schema)

    def _open(self, **options: Any) -> EventStore:
        from ..postgres import PostgresStore

        return PostgresStore(self.url, **options)

    def cleanup(self) -> None:
        try:
            super().cleanup()
        finally:
            drop_schema(self.schema)
