"""Queries and context checks are index walks: the pages they touch follow what they find, never the log.

Pages are counted with ``EXPLAIN (ANALYZE, BUFFERS)`` on the store's own connection (the statements inside the
server functions are counted with the call), after a first call that compiles the functions in that session.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from factstr import EventFilter, EventQuery, NewEvent
from factstr._validation import check_query
from factstr.postgres import PostgresStore
from factstr.postgres._terms import context_spec
from factstr.testing._postgres_backend import drop_schema, require_server, server_url

EVENTS = 40_000
DECISIONS = 8_000
NOTE = "the same for every event, long enough to make the table about as large as a real log's " * 2


def event(n: int, account_offset: int = 0) -> NewEvent:
    """Event n of the log: 100 types, 5000 accounts, so a type plus an account selects a handful."""
    return NewEvent(
        f"type{n % 100}",
        {"account": account_offset + n % 5000, "kind": f"k{n % 7}", "tags": [f"t{n % 11}"], "note": NOTE},
    )


SELECTIVE = EventQuery(filters=[EventFilter(event_types=["type42"], payload_predicates=[{"account": 42}])])
BY_PAYLOAD = EventQuery(filters=[EventFilter(payload_predicates=[{"account": 4242}, {"account": 17, "kind": "k3"}])])
BY_TYPES = EventQuery(filters=[EventFilter(event_types=["type1", "type2"])])
# The shape of the decision contexts of the benchmark's B3: the account's own facts and its decisions, while
# thousands of other accounts' decisions pile up. (Before the posting index, the check of such a context walked
# every decision of every account, and slowed down as they accumulated.)
DECIDED = EventQuery(
    filters=[EventFilter(event_types=["decided", "type42", "type43"], payload_predicates=[{"account": 42}])]
)
QUERIES = [SELECTIVE, BY_PAYLOAD, BY_TYPES, DECIDED]
IDS = ["type+payload", "payload", "types", "among-many-decisions"]


def fill(store: PostgresStore, first: int, last: int, account_offset: int = 0) -> None:
    for start in range(first, last, 1000):
        store.append([event(n, account_offset) for n in range(start, min(last, start + 1000))])


def vacuum(store: PostgresStore) -> None:
    """Leave the tables as autovacuum does (visibility map set, statistics fresh)."""
    with store._pool.connection() as conn:
        schema = sql.Identifier(store.schema)
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}.events, {}.postings").format(schema, schema))


class Measured:
    """The large log, and the pages each query touched before the log grew to its final size."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.checks = {
            query_id: context_check_pages(store, query) for query, query_id in zip(QUERIES, IDS, strict=True)
        }
        self.queries = {
            query_id: query_pages(store, limited(query)) for query, query_id in zip(QUERIES, IDS, strict=True)
        }


@pytest.fixture(scope="module")
def large() -> Iterator[Measured]:
    """EVENTS events and DECISIONS decisions of other accounts, measured; then as many events again, none of
    them in the measured contexts (shared by this module's tests, read-only)."""
    require_server()
    name = f"factstr_t_plans_{uuid.uuid4().hex}"
    store = PostgresStore(server_url(), schema=name)
    try:
        fill(store, 0, EVENTS)
        for start in range(0, DECISIONS, 1000):
            store.append([NewEvent("decided", {"account": 1000 + n}) for n in range(start, start + 1000)])
        vacuum(store)
        measured = Measured(store)
        fill(store, EVENTS, 2 * EVENTS, account_offset=100_000)  # the same types and values, other accounts
        vacuum(store)
        yield measured
    finally:
        store.close()
        drop_schema(name)


def limited(query: EventQuery) -> EventQuery:
    return EventQuery(filters=query.filters, limit=20)


def pages(conn: psycopg.Connection[Any], statement: str, params: Any) -> int:
    """Pages a statement touches when run (its second run, so that compiling functions does not count)."""
    explain = "EXPLAIN (ANALYZE, BUFFERS) " + statement
    conn.execute(explain, params)
    plan = "\n".join(row[0] for row in conn.execute(explain, params).fetchall())
    # The top node's counts include every node below it (and the statements inside the functions it called).
    top = re.search(r"Buffers: ([^\n]*)", plan.split("\nPlanning")[0])
    assert top is not None, plan
    return sum(int(number) for number in re.findall(r"(?:hit|read)=(\d+)", top.group(1)))


def context_check_pages(store: PostgresStore, query: EventQuery) -> int:
    spec = context_spec(check_query(query).filters)
    call = sql.SQL("SELECT {}.context_version(%s::jsonb, 0, 9223372036854775807)").format(sql.Identifier(store.schema))
    with store._pool.connection() as conn:
        return pages(conn, call.as_string(conn), [spec])


def query_pages(store: PostgresStore, query: EventQuery) -> int:
    prepared = check_query(query)
    upto = 2**63 - 1 if prepared.max_sequence_number is None else prepared.max_sequence_number
    params = {"spec": context_spec(prepared.filters), "after": 0, "limit": prepared.limit, "upto": upto}
    chosen = store._statements.query_backward if prepared.backwards else store._statements.query_forward
    statement = chosen.text.decode()
    for number, name in ((1, "spec"), (2, "after"), (3, "limit"), (4, "upto")):
        statement = statement.replace(f"${number}", f"%({name})s")
    with store._pool.connection() as conn:
        return pages(conn, statement, params)


def table_pages(store: PostgresStore) -> int:
    with store._pool.connection() as conn:
        row = conn.execute("SELECT pg_relation_size(%s) / 8192", [f'"{store.schema}".events']).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("query_id", IDS)
def test_context_checks_read_a_few_pages_whatever_the_log_holds(large: Measured, query_id: str) -> None:
    # One backward probe of an index per source (and per term of a predicate), plus the row of the newest
    # candidate: a small budget that the other contexts' facts do not change (the log doubled meanwhile).
    query = QUERIES[IDS.index(query_id)]
    checked = context_check_pages(large.store, query)
    assert checked <= large.checks[query_id] + 8, (large.checks[query_id], checked)
    # A source without types costs more: it first finds the types its terms occur with (one probe per type).
    budget = 128 if query_id == "payload" else 64
    assert checked < budget < table_pages(large.store) // 10, checked


@pytest.mark.parametrize("query_id", IDS)
def test_queries_read_what_they_return_whatever_the_log_holds(large: Measured, query_id: str) -> None:
    query = limited(QUERIES[IDS.index(query_id)])
    returned = len(large.store.query(query).event_records)
    assert returned > 0
    read = query_pages(large.store, query)
    assert read <= large.queries[query_id] + 8, (large.queries[query_id], read)
    # The version's probes and each source's, then per record its postings entry and its row.
    assert read < 100 + 8 * returned < table_pages(large.store) // 10, read


@pytest.mark.parametrize("query_id", IDS)
def test_bounded_reads_read_what_they_return_whatever_lies_above_the_bound(large: Measured, query_id: str) -> None:
    # max_sequence_number is a range on the sequence number in every walk: a backwards read that starts far below
    # the head, and the version at the bound, cost what they return, not what was committed after the bound.
    query = QUERIES[IDS.index(query_id)]
    for backwards in (False, True):
        bounded = EventQuery(filters=query.filters, limit=20, backwards=backwards, max_sequence_number=EVENTS)
        returned = len(large.store.query(bounded).event_records)
        assert returned > 0
        read = query_pages(large.store, bounded)
        assert read < 100 + 8 * returned < table_pages(large.store) // 10, (backwards, read)


def test_results_on_the_filled_log_are_right(large: Measured) -> None:
    result = large.store.query(SELECTIVE)
    expected = [n + 1 for n in range(EVENTS) if n % 100 == 42 and n % 5000 == 42]
    assert [record.sequence_number for record in result.event_records] == expected
    assert result.current_context_version == expected[-1]
    decided = large.store.query(DECIDED)
    expected = [n + 1 for n in range(EVENTS) if n % 5000 == 42 and n % 100 in (42, 43)]
    assert [record.sequence_number for record in decided.event_records] == expected
    assert decided.current_context_version == expected[-1]


def test_plans_made_while_the_log_was_empty_stay_index_walks(open_store: Any, schema: str) -> None:
    # The functions plan their statements once per session. Plans made on an empty table, and never remade
    # (no ANALYZE in between), must still walk the indexes once the table is large.
    store = open_store()
    store._statistics.close()  # no ANALYZE from the store ...
    with store._pool.connection() as conn:
        for table in ("events", "postings"):  # ... nor from autovacuum
            conn.execute(
                sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false)").format(sql.Identifier(schema, table))
            )
    for query in QUERIES:
        store.query(query)
        store.append_if([NewEvent("decided", {"account": 42})], query, store.query(query).current_context_version)
    fill(store, 0, EVENTS)
    # The visibility map is not set here (no vacuum): each probe also reads the page of its postings row. A
    # plan that scanned a table would read all of it.
    assert table_pages(store) > 1000
    for query in QUERIES:
        assert context_check_pages(store, query) < 256
        assert query_pages(store, limited(query)) < 400
