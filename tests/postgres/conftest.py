"""Fixtures of the PostgreSQL store's own tests: a fresh schema per test, and raw SQL access to the server."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from factstr.postgres import PostgresStore
from factstr.testing._postgres_backend import drop_schema, require_server, server_url, url_with_schema

OpenStore = Callable[..., PostgresStore]


@pytest.fixture
def schema() -> Iterator[str]:
    """A unique schema name on the test server, dropped (with everything in it) after the test."""
    require_server()
    name = f"factstr_t_{uuid.uuid4().hex}"
    try:
        yield name
    finally:
        drop_schema(name)


@pytest.fixture
def url(schema: str) -> str:
    """A ``factstr.connect`` URL for the test's schema."""
    return url_with_schema(schema)


@pytest.fixture
def open_store(url: str) -> Iterator[OpenStore]:
    """Open stores on the test's schema; every one is closed after the test."""
    stores: list[PostgresStore] = []

    def opener(**options: Any) -> PostgresStore:
        store = PostgresStore(url, **options)
        stores.append(store)
        return store

    try:
        yield opener
    finally:
        for store in stores:
            store.close()


@pytest.fixture
def store(open_store: OpenStore) -> PostgresStore:
    """A store on a fresh schema."""
    return open_store()


@pytest.fixture
def admin() -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """A plain autocommit connection to the test server, for setting up faults and reading plans."""
    require_server()
    with psycopg.connect(server_url(), autocommit=True) as conn:
        yield conn
