"""Several ``factstr serve`` processes over one PostgreSQL database work as one store.

Needs a PostgreSQL server (``FACTSTR_POSTGRES_URL``); skipped with the reason when none answers, failed when
``FACTSTR_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from factstr import DurableStreamActive, EventQuery, EventRecord, NewEvent
from factstr.client import HTTPStore

from ..cli.test_serve import start_server


@pytest.fixture
def postgres_url() -> Iterator[str]:
    from factstr.testing._postgres_backend import drop_schema, require_server, url_with_schema

    require_server()
    schema = f"factstr_scale_{uuid.uuid4().hex}"
    try:
        yield url_with_schema(schema)
    finally:
        drop_schema(schema)


def test_two_servers_over_one_postgres_database_work_as_one(postgres_url: str, tmp_path: Path) -> None:
    servers = [start_server(tmp_path, "--store", postgres_url) for _ in range(2)]
    try:
        with HTTPStore(servers[0][1]) as first, HTTPStore(servers[1][1]) as second:
            live: list[list[EventRecord]] = []
            durable: list[list[EventRecord]] = []
            with (
                first.stream_all(live.append) as live_stream,
                first.stream_all_durable("shared", durable.append) as durable_stream,
            ):
                # The durable name is held across processes.
                with pytest.raises(DurableStreamActive):
                    second.stream_all_durable("shared", durable.append)
                # Appends through the second process reach streams served by the first.
                result = second.append([NewEvent("via-second", {"n": 1}), NewEvent("via-second", {"n": 2})])
                assert live_stream.wait_until(result.last_sequence_number, timeout=20)
                assert first.append([NewEvent("via-first", {})]).first_sequence_number == 3
                assert live_stream.wait_until(3, timeout=20)
                assert durable_stream.wait_until(3, timeout=20)
            assert [[r.sequence_number for r in batch] for batch in live] == [[1, 2], [3]]
            assert [[r.sequence_number for r in batch] for batch in durable] == [[1, 2], [3]]
            info = second.durable_stream("shared")
            assert info is not None and (info.cursor, info.active) == (3, False)
            assert second.query(EventQuery()).current_context_version == 3
    finally:
        for process, _ in servers:
            process.terminate()
            process.communicate(timeout=20)
