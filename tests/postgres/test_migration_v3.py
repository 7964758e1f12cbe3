"""Migration of a populated version-2 schema to version 3 (upper bounds, conflict facts, idempotency keys).

The version-2 tables come from the migration chain (``migrate(..., version=2)``). The chain no longer creates
version 2's functions (a migration always runs on to the latest version, which drops them), so the test writes
the log as version 2's append function did (the events, one posting per distinct term of each, the head) and
declares functions with version 2's signatures, as a database an older FACTSTR left at version 2 has them.
Afterwards a version-3 store reads the same log, the new features work on it, and the old functions are gone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from factstr import ConditionalAppendConflict, EventFilter, EventQuery, NewEvent
from factstr.postgres import PostgresStore
from factstr.postgres._jsonb import jsonb_text
from factstr.postgres._schema import SCHEMA_VERSION, migrate
from factstr.postgres._terms import payload_terms, type_key
from factstr.testing._postgres_backend import drop_schema, require_server, server_url

# The functions version 2 created, by signature. Their bodies do not matter to the migration, which drops them.
V2_FUNCTIONS = {
    "term_type_keys(terms bigint[]) RETURNS bigint[]": "SELECT terms",
    "context_version(spec jsonb, above bigint) RETURNS bigint": "SELECT above",
    "matching_events(spec jsonb, after bigint, lim bigint, backwards boolean) RETURNS SETOF bigint": "SELECT after",
    "append_batches(batch_sizes integer[], posting_counts integer[], specs jsonb[], expected bigint[],"
    " seen_heads bigint[], event_types text[], type_keys bigint[], payloads jsonb[], posting_events integer[],"
    " posting_terms bigint[], occurred_ats timestamptz[], OUT first_numbers bigint[], OUT actual_versions bigint[],"
    " OUT notified text)": "SELECT NULL::bigint[], NULL::bigint[], NULL::text",
}


def v2_append(conn: psycopg.Connection[Any], schema: str, events: list[NewEvent]) -> None:
    """Append one batch as version 2's function wrote it: its events, their postings, the head, one transaction."""
    names = sql.Identifier(schema)
    with conn.transaction():
        row = conn.execute(sql.SQL("SELECT seq FROM {}.head FOR UPDATE").format(names)).fetchone()
        assert row is not None
        first = int(row[0]) + 1
        for number, event in enumerate(events, start=first):
            conn.execute(
                sql.SQL("INSERT INTO {}.events VALUES (%s, %s, clock_timestamp(), %s, %s::jsonb)").format(names),
                [number, first, event.event_type, jsonb_text(event.payload)],
            )
            for term in payload_terms(event.payload):
                conn.execute(
                    sql.SQL("INSERT INTO {}.postings (term, type_key, seq) VALUES (%s, %s, %s)").format(names),
                    [term, type_key(event.event_type), number],
                )
        conn.execute(sql.SQL("UPDATE {}.head SET seq = %s").format(names), [first + len(events) - 1])


def function_names(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    """The functions in ``schema``, each with its argument types."""
    rows = conn.execute(
        "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %s",
        [schema],
    ).fetchall()
    return sorted(str(row[0]) for row in rows)


@pytest.fixture
def v2_schema() -> Iterator[str]:
    require_server()
    name = f"factstr_t_migration_v2_{uuid.uuid4().hex}"
    try:
        with psycopg.connect(server_url(), autocommit=True) as conn:
            migrate(conn, name, version=2)
            for signature, body in V2_FUNCTIONS.items():
                conn.execute(
                    sql.SQL("CREATE FUNCTION {}.").format(sql.Identifier(name))
                    + sql.SQL(signature + " LANGUAGE sql AS ")
                    + sql.Literal(body)
                )
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


def test_the_functions_of_version_2_are_gone_after_the_migration(v2_schema: str) -> None:
    with psycopg.connect(server_url(), autocommit=True) as conn:
        v2_append(conn, v2_schema, [NewEvent("opened", {"account": 1})])
        before = function_names(conn, v2_schema)
        assert len(before) == 4 and "context_version(spec jsonb, above bigint)" in before
        PostgresStore(server_url(), schema=v2_schema).close()
        # A process of version 2 cannot append any more: it could not store the keys version 3 promises to keep.
        after = function_names(conn, v2_schema)
        # term_type_keys keeps its signature in version 3, and is created anew: its body is version 3's.
        assert set(before) & set(after) == {"term_type_keys(terms bigint[])"}
        body = conn.execute(
            "SELECT prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = %s AND p.proname = 'term_type_keys'",
            [v2_schema],
        ).fetchone()
        assert body is not None and "FROM postings" in str(body[0])
        assert [name.split("(")[0] for name in after] == [
            "append_batches",
            "context_version",
            "matching_events",
            "term_type_keys",
            "with_conflict_facts",
        ]


def test_a_version_1_schema_migrates_to_version_3_without_ever_having_the_functions_of_version_2() -> None:
    require_server()
    name = f"factstr_t_migration_v1_{uuid.uuid4().hex}"
    try:
        with psycopg.connect(server_url(), autocommit=True) as conn:
            migrate(conn, name, version=1)
            migrate(conn, name)
            assert [n.split("(")[0] for n in function_names(conn, name)] == [
                "append_batches",
                "context_version",
                "matching_events",
                "term_type_keys",
                "with_conflict_facts",
            ]
        with PostgresStore(server_url(), schema=name) as store:
            store.append([NewEvent("opened", {"account": 1})])
            context = EventQuery(filters=[EventFilter(payload_predicates=[{"account": 1}])])
            assert store.query(context).current_context_version == 1
    finally:
        drop_schema(name)
