"""Queries and context checks are index-backed: their plans and page reads stay small on a large log."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from factstr import EventFilter, EventQuery
from factstr._validation import check_query
from factstr.postgres import PostgresStore
from factstr.postgres import _sql as statements
from factstr.testing._postgres_backend import drop_schema, require_server, server_url

EVENTS = 50_000

# 100 types, 5000 accounts: a type plus an account selects a handful of events among EVENTS.
FILL = """
INSERT INTO {events} (seq, batch_start, occurred_at, event_type, payload)
SELECT n, n, now(), 'type' || (n %% 100),
       jsonb_build_object('account', n %% 5000, 'kind', 'k' || (n %% 7), 'tags', jsonb_build_array('t' || (n %% 11)))
FROM generate_series(1, %s) AS n
"""

SELECTIVE = EventQuery(filters=[EventFilter(event_types=["type42"], payload_predicates=[{"account": 42}])])
BY_PAYLOAD = EventQuery(filters=[EventFilter(payload_predicates=[{"account": 4242}, {"tags": ["t3"], "kind": "k1"}])])
BY_TYPES = EventQuery(filters=[EventFilter(event_types=["type1", "type2"])])


@pytest.fixture(scope="module")
def large() -> Iterator[PostgresStore]:
    """A store whose log holds EVENTS events, filled by the server (shared by this module's tests, read-only)."""
    require_server()
    name = f"factstr_t_plans_{uuid.uuid4().hex}"
    store = PostgresStore(server_url(), schema=name)
    try:
        with psycopg.connect(server_url(), autocommit=True) as admin:
            schema = sql.Identifier(name)
            admin.execute(sql.SQL(FILL).format(events=sql.Identifier(name, "events")), [EVENTS])
            admin.execute(sql.SQL("UPDATE {}.head SET seq = %s").format(schema), [EVENTS])
            admin.execute(sql.SQL("ANALYZE {}.events").format(schema))
        yield store
    finally:
        store.close()
        drop_schema(name)


def plan_of(store: PostgresStore, admin: psycopg.Connection[Any], query: EventQuery) -> str:
    """EXPLAIN the statement the store runs for ``query``, with its parameters as the planner sees them."""
    prepared = check_query(query)
    where = statements.compile_where(prepared.filters)
    statement = store._statements.query(where.text, prepared.backwards)
    params = [statements.filters_jsonb(prepared.filters), 0, *where.params, prepared.limit]
    text = psycopg.ClientCursor(admin).mogrify(statement, params)
    return "\n".join(row[0] for row in admin.execute("EXPLAIN " + text).fetchall())


def pages_read_by_context_check(store: PostgresStore, admin: psycopg.Connection[Any], query: EventQuery) -> int:
    """Pages the context_version function touches (its inner statements included)."""
    filters = statements.filters_jsonb(check_query(query).filters)
    call = sql.SQL("EXPLAIN (ANALYZE, BUFFERS) SELECT {}.context_version(%s::jsonb)").format(
        sql.Identifier(store.schema)
    )
    admin.execute("SET plan_cache_mode = force_custom_plan")
    admin.execute(call, [filters])  # the first call of a session also reads the catalog to compile the function
    plan = "\n".join(row[0] for row in admin.execute(call, [filters]).fetchall())
    return sum(int(number) for number in re.findall(r"(?:hit|read)=(\d+)", plan))


def table_pages(store: PostgresStore, admin: psycopg.Connection[Any]) -> int:
    row = admin.execute("SELECT pg_relation_size(%s) / 8192", [f'"{store.schema}".events']).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("query", [SELECTIVE, BY_PAYLOAD, BY_TYPES], ids=["type+payload", "payload", "types"])
def test_queries_use_the_indexes(large: PostgresStore, admin: psycopg.Connection[Any], query: EventQuery) -> None:
    plan = plan_of(large, admin, query)
    assert "Seq Scan on events" not in plan, plan
    assert re.search(r"Index (Only )?Scan|Bitmap Index Scan", plan), plan


@pytest.mark.parametrize("query", [SELECTIVE, BY_PAYLOAD, BY_TYPES], ids=["type+payload", "payload", "types"])
def test_context_checks_read_a_few_pages_not_the_log(
    large: PostgresStore, admin: psycopg.Connection[Any], query: EventQuery
) -> None:
    # A fixed budget, whatever the log's size: a probe of the newest events (a few pages) plus the payload
    # index and the context's own facts. The table itself is far larger.
    pages = pages_read_by_context_check(large, admin, query)
    assert pages < 64 < table_pages(large, admin) // 10, pages


def test_results_on_the_filled_log_are_right(large: PostgresStore) -> None:
    result = large.query(SELECTIVE)
    expected = [n for n in range(1, EVENTS + 1) if n % 100 == 42 and n % 5000 == 42]
    assert [record.sequence_number for record in result.event_records] == expected
    assert result.current_context_version == expected[-1]
