"""Files of schema version 1 (a b-tree term index) are migrated to version 2 (a full-text term index) on open,
and every answer stays the same."""

from __future__ import annotations

import hashlib
import random
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from factstr import EventFilter, EventQuery, EventRecord, NewEvent
from factstr._matching import query_matches
from factstr._model import JSON
from factstr._validation import check_query
from factstr.sqlite import SQLiteStore, _schema
from factstr.sqlite._terms import payload_words

from .conftest import child, finish

# --- a version 1 file, written the way FACTSTR 0.1 wrote it ----------------------------------------------------


def _v1_leaves(value: JSON, path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, dict):
        return [leaf for key, sub in value.items() for leaf in _v1_leaves(sub, (*path, key))]
    if isinstance(value, list):
        return [leaf for element in value for leaf in _v1_leaves(element, (*path, 0))]
    if isinstance(value, bool):
        return [(path, "b1" if value else "b0")]
    if isinstance(value, str):
        return [(path, "s" + value)]
    if isinstance(value, (int, float)):
        return [(path, "n" + (str(int(value)) if float(value).is_integer() else repr(value)))]
    return [(path, "z")]


def _v1_terms(payload: JSON) -> set[int]:
    """The term hashes of schema version 1: blake2b-64 of the JSON of (path, scalar text), as a signed integer."""
    terms = set()
    for path, scalar in _v1_leaves(payload):
        digest = hashlib.blake2b(msgspec.json.encode((path, scalar)), digest_size=8).digest()
        terms.add(int.from_bytes(digest, "big", signed=True))
    return terms


def _history(rng: random.Random) -> list[list[NewEvent]]:
    """Batches of events with nested payloads, arrays, numbers in both forms, and repeated and unique values."""
    batches = []
    for batch in range(120):
        events = []
        for _ in range(rng.randint(1, 6)):
            payload: dict[str, JSON] = {
                "account": f"a{rng.randint(0, 15)}",
                "amount": rng.choice([1, 1.0, 2, 2.5, 10**12, -3]),
                "flag": rng.choice([True, False, None]),
                "tags": rng.sample(["x", "y", "z", 1, {"k": "v"}], rng.randint(0, 3)),
                "batch": batch,
            }
            if rng.random() < 0.3:
                payload["nested"] = {"deep": {"value": rng.choice(["p", "q"]), "list": [[1, 2], {"a": [3]}]}}
            events.append(NewEvent(rng.choice(["opened", "moved", "closed", "noted"]), payload))
        batches.append(events)
    return batches


def _write_version_1(path: str, batches: list[list[NewEvent]]) -> list[datetime]:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(f"PRAGMA application_id = {_schema.APPLICATION_ID:d}")
        (version_1,) = [migration for migration in _schema.MIGRATIONS if migration.version == 1]
        for statement in version_1.statements:
            connection.execute(statement)
        connection.execute("INSERT INTO factstr_meta (key, value) VALUES ('schema_version', '1')")
        sequence = 0
        times = []
        for index, events in enumerate(batches):
            first = sequence + 1
            occurred_at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=index, microseconds=index)
            times.append(occurred_at)
            micros = (occurred_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
            for event in events:
                sequence += 1
                payload = msgspec.json.encode(event.payload).decode()
                connection.execute(
                    "INSERT INTO events (seq, batch_start, occurred_at, event_type, payload) VALUES (?, ?, ?, ?, ?)",
                    (sequence, first, micros, event.event_type, payload),
                )
                connection.executemany(
                    "INSERT INTO event_terms (term, seq) VALUES (?, ?)",
                    [(term, sequence) for term in _v1_terms(event.payload)],
                )
        connection.execute(
            "INSERT INTO durable_cursors (name, filters_json, cursor) VALUES ('projection', 'null', 100)"
        )
        connection.execute("COMMIT")
    finally:
        connection.close()
    return times


# --- the migration ---------------------------------------------------------------------------------------------


def _queries() -> list[EventQuery]:
    account = EventFilter(payload_predicates=[{"account": "a3"}])
    return [
        EventQuery(),
        EventQuery(filters=[EventFilter(event_types=["moved"])]),
        EventQuery(filters=[account]),
        EventQuery(filters=[account], backwards=True, limit=3),
        EventQuery(filters=[EventFilter(event_types=["opened", "closed"], payload_predicates=[{"amount": 1}])]),
        EventQuery(filters=[EventFilter(payload_predicates=[{"amount": 2.0, "flag": None}])]),
        EventQuery(filters=[EventFilter(payload_predicates=[{"tags": ["x", {"k": "v"}]}])]),
        EventQuery(filters=[EventFilter(payload_predicates=[{"nested": {"deep": {"list": [[2]]}}}])]),
        EventQuery(
            filters=[EventFilter(payload_predicates=[{"flag": False}, {"account": "a7"}])], min_sequence_number=90
        ),
        EventQuery(filters=[EventFilter(event_types=["noted"]), account], limit=5),
        EventQuery(filters=[EventFilter(payload_predicates=[{"account": "nobody"}])]),
        EventQuery(filters=[EventFilter(payload_predicates=[{}])], min_sequence_number=400),
    ]


def _expected(records: list[EventRecord], query: EventQuery) -> tuple[list[int], int | None]:
    filters = check_query(query).filters
    matching = [r.sequence_number for r in records if query_matches(filters, r.event_type, r.payload)]
    selected = [n for n in matching if n > (query.min_sequence_number or 0)]
    if query.backwards:
        selected.reverse()
    if query.limit is not None:
        selected = selected[: query.limit]
    return selected, (matching[-1] if matching else None)


def test_a_version_1_file_is_migrated_to_the_full_text_term_index_and_answers_the_same(database: str) -> None:
    batches = _history(random.Random(13))
    times = _write_version_1(database, batches)
    count = sum(len(events) for events in batches)

    with SQLiteStore(database) as store:
        assert store.head() == count
        records = store.query(EventQuery()).event_records
        # The log itself is untouched: numbers, types, payloads, batch boundaries and commit times.
        expected_records = [(event.event_type, event.payload) for events in batches for event in events]
        assert [(r.event_type, r.payload) for r in records] == expected_records
        assert [r.sequence_number for r in records] == list(range(1, count + 1))
        by_batch: dict[datetime, list[int]] = defaultdict(list)
        for record in records:
            by_batch[record.occurred_at].append(record.sequence_number)
        assert list(by_batch) == times
        assert [len(numbers) for numbers in by_batch.values()] == [len(events) for events in batches]
        # Every query answers what the reference matcher says, as version 1 did.
        for query in _queries():
            result = store.query(query)
            numbers, version = _expected(records, query)
            assert [r.sequence_number for r in result.event_records] == numbers, query
            assert result.current_context_version == version, query
        # Cursors survive, and a durable stream resumes after its cursor in the original batches.
        info = store.durable_stream("projection")
        assert info is not None and info.cursor == 100
        replayed: list[list[int]] = []
        with store.stream_all_durable(
            "projection", lambda batch: replayed.append([r.sequence_number for r in batch])
        ) as stream:
            assert stream.wait_until(count, timeout=10)
        after_cursor = [[n for n in numbers if n > 100] for numbers in by_batch.values()]
        assert replayed == [numbers for numbers in after_cursor if numbers]
        # Appends go on where version 1 stopped, and are indexed like the migrated events.
        assert store.append([NewEvent("moved", {"account": "a3"})]).first_sequence_number == count + 1
        assert store.query(_queries()[2]).current_context_version == count + 1

    connection = sqlite3.connect(database)
    try:
        version = connection.execute("SELECT value FROM factstr_meta WHERE key = 'schema_version'").fetchone()[0]
        assert int(version) == _schema.latest_version() == 3
        sql = connection.execute("SELECT sql FROM sqlite_schema WHERE name = 'event_terms'").fetchone()[0]
        assert "fts5" in sql
        connection.execute("CREATE VIRTUAL TABLE temp.postings USING fts5vocab(main, event_terms, instance)")
        postings: dict[int, set[str]] = defaultdict(set)
        for term, seq in connection.execute("SELECT term, doc FROM temp.postings"):
            postings[seq].add(term)
        payloads = connection.execute("SELECT seq, payload FROM events ORDER BY seq").fetchall()
        assert len(payloads) == count + 1
        for seq, payload in payloads:
            assert postings.pop(seq) == set(payload_words(msgspec.json.decode(payload)))
        assert not postings
    finally:
        connection.close()


def test_processes_opening_a_version_1_file_together_migrate_it_once(database: str) -> None:
    batches = _history(random.Random(5))
    _write_version_1(database, batches)
    count = sum(len(events) for events in batches)
    opener = """
        import sys
        from factstr import EventFilter, EventQuery
        from factstr.sqlite import SQLiteStore
        with SQLiteStore(sys.argv[1]) as store:
            query = EventQuery(filters=[EventFilter(payload_predicates=[{"account": "a1"}])])
            print(store.head(), [r.sequence_number for r in store.query(query).event_records])
    """
    outputs = {finish(process) for process in [child(opener, database) for _ in range(3)]}
    with SQLiteStore(database) as store:
        records = store.query(EventQuery()).event_records
    numbers, _ = _expected(records, EventQuery(filters=[EventFilter(payload_predicates=[{"account": "a1"}])]))
    assert outputs == {f"{count} {numbers}\n"}


def test_a_version_2_file_gains_the_idempotency_keys_on_open(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A file as the version-2 FACTSTR wrote it: the migration chain stopped at version 2.
    with monkeypatch.context() as older:
        older.setattr(_schema, "MIGRATIONS", _schema.MIGRATIONS[:2])
        with SQLiteStore(database) as store:
            store.append([NewEvent("paid", {"order": 1}), NewEvent("paid", {"order": 2})])
    connection = sqlite3.connect(database)
    try:
        assert connection.execute("SELECT value FROM factstr_meta WHERE key = 'schema_version'").fetchone() == ("2",)
        assert connection.execute("SELECT name FROM sqlite_schema WHERE name = 'idempotency_keys'").fetchone() is None
    finally:
        connection.close()
    with SQLiteStore(database) as store:
        assert store.head() == 2
        first = store.append([NewEvent("paid", {"order": 3})], idempotency_key="order-3")
        assert store.append([NewEvent("paid", {"order": 3})], idempotency_key="order-3") == first
        assert [r.payload for r in store.query(EventQuery()).event_records] == [{"order": n} for n in (1, 2, 3)]
    connection = sqlite3.connect(database)
    try:
        assert connection.execute("SELECT value FROM factstr_meta WHERE key = 'schema_version'").fetchone() == ("3",)
    finally:
        connection.close()
