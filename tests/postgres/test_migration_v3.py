"""Migration of a populated version-2 schema to version 3 (upper bounds, conflict facts, idempotency keys).

The version-2 schema is built from the migration chain (``migrate(..., version=2)``, with the version-2 functions
kept in ``_functions_v2``) and written through the version-2 append function, as a process of that version wrote
it. Afterwards a version-3 store reads the same log, and the new features work on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from factstr import ConditionalAppendConflict, EventFilter, EventQuery, NewEvent
from factstr._validation import check_events
from factstr.postgres import PostgresStore
from factstr.postgres._schema import SCHEMA_VERSION, migrate
from factstr.postgres._store import _Batch, _group_parameters
from factstr.postgres._terms import payload_terms, type_key
from factstr.testing._postgres_backend import drop_schema, require_server, server_url

V2_APPEND = (
    "SELECT first_numbers FROM {}.append_batches(%s::integer[], %s::integer[], %s::jsonb[], %s::bigint[],"
    " %s::bigint[], %s::text[], %s::bigint[], %s::jsonb[], %s::integer[], %s::bigint[], %s::timestamptz[])"
)


def v2_append(conn: psycopg.Connection[Any], schema: str, events: list[NewEvent]) -> None:
    """Append one batch through the version-2 function (its 11 parameters are the first 11 of version 3's)."""
    prepared = check_events(events, 1 << 20)
    batch = _Batch(
        prepared,
        [type_key(event.event_type) for event in prepared],
        [payload_terms(event.payload) for event in prepared],
        None,
        None,
        None,
        None,
        None,
    )
    conn.execute(sql.SQL(V2_APPEND).format(sql.Identifier(schema)), _group_parameters([batch])[:11])


@pytest.fixture
def v2_schema() -> Iterator[str]:
    require_server()
    name = f"factstr_t_migration_v2_{uuid.uuid4().hex}"
    try:
        with psycopg.connect(server_url(), autocommit=True) as conn:
            migrate(conn, name, version=2)
        yield name
    finally:
        drop_schema(name)


def test_a_populated_version_2_schema_migrates_to_version_3_and_gains_the_new_features(v2_schema: str) -> None:
    with psycopg.connect(server_url(), autocommit=True) as conn:
        for account in range(30):
            v2_append(conn, v2_schema, [NewEvent("opened", {"account": account % 3}), NewEvent("noted", {})])
    account_0 = EventQuery(filters=[EventFilter(payload_predicates=[{"account": 0}])])  # 1, 7, 13, ..., 55
    with PostgresStore(server_url(), schema=v2_schema) as store:
        with psycopg.connect(server_url(), autocommit=True) as conn:
            row = conn.execute(sql.SQL("SELECT version FROM {}.schema_version").format(sql.Identifier(v2_schema)))
            assert row.fetchone() == (SCHEMA_VERSION,) == (3,)
        assert store.head() == 60
        assert [r.sequence_number for r in store.query(account_0).event_records] == list(range(1, 60, 6))
        bounded = store.query(EventQuery(filters=account_0.filters, backwards=True, limit=2, max_sequence_number=30))
        assert ([r.sequence_number for r in bounded.event_records], bounded.current_context_version) == ([25, 19], 25)
        with pytest.raises(ConditionalAppendConflict) as conflict:
            store.append_if([NewEvent("closed", {"account": 0})], account_0, 43)
        assert [fact.sequence_number for fact in conflict.value.facts] == [49, 55]
        first = store.append_if([NewEvent("closed", {"account": 0})], account_0, 55, idempotency_key="close-0")
        again = store.append_if([NewEvent("closed", {"account": 0})], account_0, 55, idempotency_key="close-0")
        assert first == again and store.head() == 61


def test_a_process_of_version_2_cannot_append_after_the_migration(v2_schema: str) -> None:
    with psycopg.connect(server_url(), autocommit=True) as conn:
        v2_append(conn, v2_schema, [NewEvent("opened", {"account": 1})])
        PostgresStore(server_url(), schema=v2_schema).close()
        # Its append function is gone: it cannot append without storing the keys version 3 promises to keep.
        with pytest.raises(psycopg.errors.UndefinedFunction):
            v2_append(conn, v2_schema, [NewEvent("opened", {"account": 2})])
