"""Migration of a populated version-1 schema (GIN index, no postings) to version 2 (the posting index).

The version-1 database is built from the migration chain (``migrate(..., version=1)``) and written through the
version-1 append function, as a process of that version wrote it. Every query's answer is recorded before the
migration (the version from the version-1 ``context_version`` function, the records by the reference matcher, which
version 1's own property test held its SQL to) and must be the same from a version-2 store afterwards.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import psycopg
import pytest
from psycopg import sql

from factstr import ConditionalAppendConflict, EventFilter, EventQuery, NewEvent
from factstr._matching import Filters, query_matches
from factstr._model import JSON
from factstr._validation import check_query
from factstr.postgres import PostgresStore
from factstr.postgres._jsonb import jsonb_text
from factstr.postgres._schema import SCHEMA_VERSION, migrate
from factstr.testing._postgres_backend import drop_schema, require_server, server_url

TYPES = ["opened", "moved", "closed", "noted"]
SCALARS: list[JSON] = [None, True, False, 0, 1, -1, 1.0, 1.5, 2**60, 2.0**60, 1e16, "", "a", "b", "1"]
KEYS = ["a", "b", "c", "account"]


def document(rng: random.Random, depth: int = 0) -> JSON:
    roll = rng.random()
    if depth >= 3 or roll < 0.4:
        return rng.choice(SCALARS)
    if roll < 0.65:
        return [document(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {key: document(rng, depth + 1) for key in rng.sample(KEYS, rng.randrange(4))}


def part_of(rng: random.Random, value: JSON) -> JSON:
    """A predicate contained in ``value``."""
    if type(value) is dict:
        return {key: part_of(rng, value[key]) for key in rng.sample(sorted(value), rng.randrange(len(value) + 1))}
    if type(value) is list and value:
        return [part_of(rng, rng.choice(value)) for _ in range(rng.randrange(3))]
    return value


def the_log(rng: random.Random) -> list[list[tuple[str, JSON]]]:
    """Batches of (type, payload); some payloads are plain accounts, as a real log's would be."""
    batches = []
    for _ in range(120):
        batch = []
        for _ in range(rng.randrange(1, 5)):
            payload = {"account": rng.randrange(20), "n": rng.random()} if rng.random() < 0.4 else document(rng)
            batch.append((rng.choice(TYPES), payload))
        batches.append(batch)
    return batches


def queries(rng: random.Random, payloads: list[JSON]) -> list[EventQuery]:
    found = [EventQuery(), EventQuery(filters=[]), EventQuery(limit=5, backwards=True)]
    for index in range(150):
        filters = []
        for _ in range(rng.randrange(1, 3)):
            types = None if rng.random() < 0.3 else rng.sample(TYPES, rng.randrange(1, 3))
            predicates = None
            if rng.random() < 0.8:
                predicates = [
                    part_of(rng, rng.choice(payloads)) if rng.random() < 0.8 else document(rng)
                    for _ in range(rng.randrange(1, 3))
                ]
            filters.append(EventFilter(event_types=types, payload_predicates=predicates))
        found.append(EventQuery(filters=filters))
        if index % 10 == 0:
            found.append(EventQuery(filters=filters, min_sequence_number=rng.randrange(200), limit=3, backwards=True))
    return found


def v1_filters_json(filters: Filters) -> str:
    """The JSON the version-1 ``context_version`` function took."""
    if filters is None:
        return "null"
    return msgspec.json.encode(
        [{"t": list(flt.types) if flt.types is not None else None, "p": flt.predicates} for flt in filters]
    ).decode()


def v1_append(conn: psycopg.Connection[Any], schema: str, batch: list[tuple[str, JSON]]) -> None:
    conn.execute(
        sql.SQL("SELECT * FROM {}.append_batches(%s, %s::jsonb, %s, %s::jsonb[], %s::timestamptz[])").format(
            sql.Identifier(schema)
        ),
        [[len(batch)], "[null]", [event_type for event_type, _ in batch], [jsonb_text(p) for _, p in batch], [None]],
    )


@pytest.fixture
def v1_schema() -> Iterator[str]:
    require_server()
    name = f"factstr_t_migration_{uuid.uuid4().hex}"
    try:
        with psycopg.connect(server_url(), autocommit=True) as conn:
            migrate(conn, name, version=1)
        yield name
    finally:
        drop_schema(name)


def test_a_populated_version_1_schema_migrates_and_every_answer_stays_the_same(v1_schema: str) -> None:
    rng = random.Random(20261206)
    log = the_log(rng)
    events = [event for batch in log for event in batch]
    asked = queries(rng, [payload for _, payload in events])
    with psycopg.connect(server_url(), autocommit=True) as conn:
        for batch in log:
            v1_append(conn, v1_schema, batch)
        conn.execute(
            sql.SQL("INSERT INTO {}.durable_cursors VALUES ('projection', 'null', 7)").format(sql.Identifier(v1_schema))
        )
        version_call = sql.SQL("SELECT {}.context_version(%s::jsonb)").format(sql.Identifier(v1_schema))
        before = []
        for query in asked:
            prepared = check_query(query)
            row = conn.execute(version_call, [v1_filters_json(prepared.filters)]).fetchone()
            assert row is not None
            numbers = [
                number
                for number, (event_type, payload) in enumerate(events, start=1)
                if query_matches(prepared.filters, event_type, payload) and number > prepared.min_sequence_number
            ]
            if prepared.backwards:
                numbers.reverse()
            before.append((numbers[: prepared.limit], row[0]))

    with PostgresStore(server_url(), schema=v1_schema) as store:
        after = []
        for query in asked:
            result = store.query(query)
            after.append(([record.sequence_number for record in result.event_records], result.current_context_version))
        assert after == before
        assert store.head() == len(events)
        records = store.query(EventQuery()).event_records
        assert [(record.event_type, record.payload) for record in records] == events
        info = store.durable_stream("projection")
        assert info is not None and info.cursor == 7
        # Conditions on versions read before the migration still hold, or conflict, as they should.
        context = EventQuery(filters=[EventFilter(payload_predicates=[{"account": 3}])])
        version = before[asked.index(context)][1] if context in asked else store.query(context).current_context_version
        with pytest.raises(ConditionalAppendConflict):
            store.append_if([NewEvent("noted", {"account": 3})], context, (version or 0) + 1)
        assert store.append_if([NewEvent("noted", {"account": 3})], context, version).committed_count == 1


def test_a_process_of_version_1_cannot_append_after_the_migration(v1_schema: str) -> None:
    with psycopg.connect(server_url(), autocommit=True) as conn:
        v1_append(conn, v1_schema, [("opened", {"account": 1})])
        PostgresStore(server_url(), schema=v1_schema).close()
        # Its append function is gone: it cannot write events the posting index would not know.
        with pytest.raises(psycopg.errors.UndefinedFunction):
            v1_append(conn, v1_schema, [("opened", {"account": 2})])


def test_stores_opening_a_version_1_schema_at_once_migrate_it_once(v1_schema: str) -> None:
    with psycopg.connect(server_url(), autocommit=True) as conn:
        for index in range(50):
            v1_append(conn, v1_schema, [("opened", {"account": index}), ("moved", {"account": index, "to": "b"})])
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_one() -> None:
        start.wait()
        try:
            stores.append(PostgresStore(server_url(), schema=v1_schema))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        with psycopg.connect(server_url(), autocommit=True) as conn:
            schema = sql.Identifier(v1_schema)
            version = conn.execute(sql.SQL("SELECT version FROM {}.schema_version").format(schema)).fetchone()
            postings = conn.execute(sql.SQL("SELECT count(*) FROM {}.postings").format(schema)).fetchone()
        assert version == (SCHEMA_VERSION,)
        assert postings == (150,)  # one per distinct term of each event: account; account and to
        context = EventQuery(filters=[EventFilter(event_types=["moved"], payload_predicates=[{"account": 7}])])
        assert all(store.query(context).current_context_version == 16 for store in stores)
    finally:
        for store in stores:
            store.close()
