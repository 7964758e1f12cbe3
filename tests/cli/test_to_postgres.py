"""A log moves from SQLite to PostgreSQL intact: numbers, batch boundaries, payloads and cursors.

Needs a PostgreSQL server (``FACTSTR_POSTGRES_URL``); skipped with the reason when none answers, failed when
``FACTSTR_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from factstr import EventFilter, EventQuery, NewEvent, connect
from factstr.cli import main


@pytest.fixture
def postgres_url() -> Iterator[str]:
    from factstr.testing._postgres_backend import drop_schema, require_server, url_with_schema

    require_server()
    schema = f"factstr_import_{uuid.uuid4().hex}"
    try:
        yield url_with_schema(schema)
    finally:
        drop_schema(schema)


def test_export_from_sqlite_and_import_into_postgres(tmp_path: Path, postgres_url: str) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'source.db'}"
    with connect(sqlite_url) as source:
        source.append([NewEvent("opened", {"account": "a", "tags": ["x", "y"]})])
        source.append([NewEvent("deposited", {"account": "a", "amount": 2.5}), NewEvent("note", "plain text")])
        source.append([NewEvent("closed", None)])
        query = EventQuery(filters=[EventFilter(event_types=["deposited", "closed"])])
        with source.stream_to_durable("projector", query, lambda batch: None) as stream:
            assert stream.wait_until(4, timeout=10)
        source.reset_durable_stream("projector", 2)
    export = tmp_path / "log.ndjson"
    assert main(["export", str(export), "--store", sqlite_url]) == 0
    assert main(["import", str(export), "--store", postgres_url]) == 0
    assert main(["verify", "--store", postgres_url]) == 0

    with connect(sqlite_url) as source, connect(postgres_url) as target:
        before = source.query(EventQuery()).event_records
        after = target.query(EventQuery()).event_records
        assert [(r.sequence_number, r.event_type, r.payload) for r in before] == [
            (r.sequence_number, r.event_type, r.payload) for r in after
        ]
        # Batch boundaries: records of one batch share one occurred_at, and only they do.
        assert [r.occurred_at == after[i - 1].occurred_at for i, r in enumerate(after) if i] == [False, True, False]
        assert [r.occurred_at for r in before] == [r.occurred_at for r in after]  # commit times travel too
        original = source.durable_stream("projector")
        imported = target.durable_stream("projector")
        assert original is not None and imported is not None
        assert (imported.query, imported.cursor) == (original.query, 2)


def schema_exists(schema: str) -> bool:
    import psycopg

    from factstr.testing._postgres_backend import server_url

    with psycopg.connect(server_url()) as conn:
        row = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", [schema]).fetchone()
        return bool(row and row[0])


def test_reads_refuse_a_missing_schema_and_create_none(postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    schema = postgres_url.rpartition("schema=")[2]
    assert main(["stats", "--store", postgres_url]) == 1
    assert "no store at" in capsys.readouterr().err
    assert not schema_exists(schema)
    assert main(["append", "first", "{}", "--store", postgres_url]) == 0
    assert "created a new store" in capsys.readouterr().err
    assert main(["stats", "--store", postgres_url]) == 0
