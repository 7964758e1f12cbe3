"""The schema of the PostgreSQL store: creation, versions, forward migration, concurrent opening, naming."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from psycopg import sql

import factstr
from factstr import InvalidInput, NewEvent, SchemaVersionError
from factstr.postgres import PostgresStore
from factstr.postgres._schema import SCHEMA_VERSION
from factstr.testing._postgres_backend import server_url

from .conftest import OpenStore


def version_of(admin: psycopg.Connection[Any], schema: str) -> int:
    query = sql.SQL("SELECT version FROM {}.schema_version").format(sql.Identifier(schema))
    row = admin.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def test_opening_creates_the_schema_at_the_current_version(
    store: PostgresStore, admin: psycopg.Connection[Any]
) -> None:
    assert version_of(admin, store.schema) == SCHEMA_VERSION
    tables = admin.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", [store.schema]
    ).fetchall()
    assert [name for (name,) in tables] == [
        "durable_cursors",
        "events",
        "head",
        "idempotency_keys",
        "postings",
        "schema_version",
    ]


def test_reopening_keeps_the_log_and_cursors(open_store: OpenStore) -> None:
    first = open_store()
    first.append([NewEvent("t", {"n": 1})])
    with first.stream_all_durable("projection", lambda batch: None) as stream:
        assert stream.wait_until(1, timeout=10)
    first.close()
    second = open_store()
    assert second.head() == 1
    info = second.durable_stream("projection")
    assert info is not None and info.cursor == 1


def test_a_newer_schema_is_refused(open_store: OpenStore, schema: str, admin: psycopg.Connection[Any]) -> None:
    open_store().close()
    admin.execute(
        sql.SQL("UPDATE {}.schema_version SET version = %s").format(sql.Identifier(schema)),
        [SCHEMA_VERSION + 1],
    )
    with pytest.raises(SchemaVersionError, match=f"version {SCHEMA_VERSION + 1}"):
        open_store()


def test_stores_opened_at_once_migrate_once(url: str, admin: psycopg.Connection[Any]) -> None:
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_one() -> None:
        start.wait()
        try:
            stores.append(PostgresStore(url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        stores[0].append([NewEvent("t", 1)])
        assert all(store.head() == 1 for store in stores)
    finally:
        for store in stores:
            store.close()


def test_schema_comes_from_the_url_or_the_keyword(schema: str) -> None:
    with factstr.connect(server_url(), schema=schema) as by_keyword:
        by_keyword.append([NewEvent("t", 1)])
    with factstr.connect(server_url() + "?schema=" + schema) as by_url:
        assert by_url.head() == 1


def test_schema_in_url_and_keyword_must_agree(schema: str) -> None:
    with pytest.raises(InvalidInput, match="disagrees"):
        PostgresStore(server_url() + "?schema=" + schema, schema=schema + "_other")


def test_schema_names_pass_as_identifiers(admin: psycopg.Connection[Any]) -> None:
    hostile = """x"; drop table y; --$body$'"""
    try:
        with PostgresStore(server_url(), schema=hostile) as store:
            store.append([NewEvent("t", 1)])
            assert store.head() == 1
    finally:
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(hostile)))


@pytest.mark.parametrize("bad", ["", "x" * 64, "a\x00b"])
def test_bad_schema_names_are_invalid_input(bad: str) -> None:
    with pytest.raises(InvalidInput):
        PostgresStore(server_url(), schema=bad)
