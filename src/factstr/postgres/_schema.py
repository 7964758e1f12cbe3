"""The PostgreSQL schema of a store: tables, indexes, server-side functions, and forward migrations.

Everything lives in one PostgreSQL schema (default ``factstr``), so several stores can share a database.
``migrate`` runs on every open: under a transaction-level advisory lock it creates what is missing, applies
the migrations newer than the recorded version, and refuses a schema written by a newer FACTSTR.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import msgspec
import psycopg
from psycopg import sql

from .._errors import SchemaVersionError
from . import _functions
from ._terms import payload_terms, type_key

SCHEMA_VERSION = 3
"""The schema version this code writes and understands."""

Step = str | Callable[[psycopg.Connection[tuple[object, ...]], dict[str, sql.Composable]], None]
"""One migration step: a statement template (``{schema}``, ``{channel}``), or a function run on the connection."""

# Function bodies never contain the schema name: each function sets its own search_path, so a schema name
# with any characters in it cannot end a dollar-quoted body or change what the body means.

_V1_CONTEXT_VERSION_FUNCTION = """
CREATE FUNCTION {schema}.context_version(filters jsonb) RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = {schema}, pg_catalog, pg_temp
-- Plan every lookup for the actual type and predicate: a generic plan cannot use the indexes well.
SET plan_cache_mode = force_custom_plan
AS $body$
-- The highest sequence number of any event matching ``filters`` (C2), NULL when none does.
-- ``filters`` is JSON null (every event matches) or an array of objects with keys t (the types or null)
-- and p (the predicates or null).
-- STABLE: called from a statement, it reads that statement's snapshot, so records and version agree.
-- Loops walk the JSON by index: plain expressions, evaluated without planning a query each (a
-- FOR ... IN SELECT loop would plan one per loop, and custom plans are not cached).
DECLARE
    best bigint := 0;
    hit bigint;
    alternative jsonb;
    types jsonb;
    predicates jsonb;
    wanted_type text;
    predicate jsonb;
    container boolean;
    unresolved text[];
    probe_best bigint;
    a integer;
    p integer;
    t integer;
BEGIN
    IF filters = 'null'::jsonb THEN
        SELECT max(seq) INTO best FROM events;
        RETURN best;
    END IF;
    FOR a IN 0 .. jsonb_array_length(filters) - 1 LOOP
        alternative := filters -> a;
        types := alternative -> 't';
        predicates := alternative -> 'p';
        IF predicates = 'null'::jsonb THEN
            -- One backward probe of the (event_type, seq) index per type.
            FOR t IN 0 .. jsonb_array_length(types) - 1 LOOP
                wanted_type := types ->> t;
                SELECT max(seq) INTO hit FROM events WHERE event_type = wanted_type AND seq > best;
                best := greatest(best, hit);
            END LOOP;
            CONTINUE;
        END IF;
        FOR p IN 0 .. jsonb_array_length(predicates) - 1 LOOP
            predicate := predicates -> p;
            -- jsonb's @> lets a top-level array contain a scalar; C2 does not, so a scalar predicate also
            -- requires a payload that is not an array. Below the top level @> already agrees with C2.
            container := jsonb_typeof(predicate) IN ('object', 'array');
            -- First the newest few events after best (per type, when types are given): a context whose
            -- facts are frequent is answered there, in constant time. The newest events of the whole log
            -- sit on a few adjacent pages, so that probe looks further back than one through a type, whose
            -- events are spread over the table. A type whose probe found nothing goes to the index below.
            unresolved := ARRAY[]::text[];
            probe_best := 0;
            t := 0;
            LOOP
                wanted_type := CASE WHEN types = 'null'::jsonb THEN NULL ELSE types ->> t END;
                SELECT max(recent.seq) INTO hit
                FROM (
                    SELECT seq, payload FROM events
                    WHERE (wanted_type IS NULL OR event_type = wanted_type) AND seq > best
                    ORDER BY seq DESC LIMIT CASE WHEN wanted_type IS NULL THEN 256 ELSE 8 END
                ) recent
                WHERE recent.payload @> predicate AND (container OR jsonb_typeof(recent.payload) <> 'array');
                IF hit IS NULL THEN
                    unresolved := unresolved || wanted_type;
                ELSE
                    probe_best := greatest(probe_best, hit);
                END IF;
                t := t + 1;
                EXIT WHEN types = 'null'::jsonb OR t >= jsonb_array_length(types);
            END LOOP;
            IF cardinality(unresolved) > 0 THEN
                -- One bitmap of the payload index for the rest. max(seq + 0), not max(seq): the planner
                -- would otherwise turn max into a backward walk of an index that filters every event it
                -- passes, whose cost grows with the log when the facts are rare; the bitmap costs what the
                -- context's own facts cost. (unresolved holds one NULL when no types were given.)
                SELECT max(seq + 0) INTO hit FROM events
                WHERE (types = 'null'::jsonb OR event_type = ANY(unresolved)) AND payload @> predicate
                  AND (container OR jsonb_typeof(payload) <> 'array') AND seq > greatest(best, probe_best);
                probe_best := greatest(probe_best, hit);
            END IF;
            best := greatest(best, probe_best);
        END LOOP;
    END LOOP;
    RETURN nullif(best, 0);
END
$body$
"""

_V1_APPEND_BATCHES_FUNCTION = """
CREATE FUNCTION {schema}.append_batches(
    batch_sizes integer[],
    conditions jsonb,
    event_types text[],
    payloads jsonb[],
    occurred_ats timestamptz[],
    OUT first_numbers bigint[],
    OUT actual_versions bigint[]
)
LANGUAGE plpgsql
SET search_path = {schema}, pg_catalog, pg_temp
-- Its own statements have one good plan whatever the values: plan them once per session, not on every call.
-- (context_version sets custom plans again for the lookups that need them.)
SET plan_cache_mode = force_generic_plan
AS $body$
-- Commit several batches in order, in one transaction (one round trip, one fsync). Batch i holds
-- batch_sizes[i] consecutive entries of event_types/payloads; conditions -> (i - 1) is JSON null (plain
-- append) or an object with keys filters and expected (a version or null); occurred_ats[i] is NULL (stamp
-- the commit time) or, for an imported batch, the time it was first committed. For each batch,
-- first_numbers[i] is its first sequence number, or NULL when its condition failed, and then
-- actual_versions[i] is the context's version.
DECLARE
    head_before bigint;
    next_number bigint;
    batch integer;
    size integer;
    offset_in_arrays integer := 0;
    condition jsonb;
    actual bigint;
    committed_at timestamptz;
BEGIN
    -- The serialisation point. The head row stays locked until this transaction commits, so one writer at a
    -- time assigns numbers (gapless: a failed transaction releases the lock and its numbers are reused) and
    -- the next writer gets the lock only after this commit is visible (numbers become visible in order).
    SELECT seq INTO head_before FROM head FOR UPDATE;
    next_number := head_before + 1;
    first_numbers := ARRAY[]::bigint[];
    actual_versions := ARRAY[]::bigint[];
    FOR batch IN 1 .. coalesce(array_length(batch_sizes, 1), 0) LOOP
        size := batch_sizes[batch];
        condition := conditions -> (batch - 1);
        actual := NULL;
        IF condition <> 'null'::jsonb THEN
            -- A later statement than the lock: under READ COMMITTED it takes a new snapshot, which holds the
            -- previous writer's commit and this transaction's earlier batches. (Checked in the statement that
            -- took the lock, the snapshot would predate the lock wait and miss the previous writer's facts.)
            actual := context_version(condition -> 'filters');
            IF actual IS DISTINCT FROM (condition ->> 'expected')::bigint THEN
                first_numbers := array_append(first_numbers, NULL::bigint);
                actual_versions := array_append(actual_versions, actual);
                offset_in_arrays := offset_in_arrays + size;
                CONTINUE;
            END IF;
        END IF;
        -- Taken under the lock, so occurred_at never goes backwards along the log; one value per batch.
        committed_at := coalesce(occurred_ats[batch], clock_timestamp());
        INSERT INTO events (seq, batch_start, occurred_at, event_type, payload)
        SELECT next_number + entry.ordinality - 1, next_number, committed_at, entry.event_type,
               entry.payload
        FROM unnest(
            event_types[offset_in_arrays + 1 : offset_in_arrays + size],
            payloads[offset_in_arrays + 1 : offset_in_arrays + size]
        ) WITH ORDINALITY AS entry(event_type, payload, ordinality);
        first_numbers := array_append(first_numbers, next_number);
        actual_versions := array_append(actual_versions, actual);
        next_number := next_number + size;
        offset_in_arrays := offset_in_arrays + size;
    END LOOP;
    IF next_number > head_before + 1 THEN
        UPDATE head SET seq = next_number - 1;
        -- Delivered at commit, only if it commits: a wake-up hint for streams in other processes.
        PERFORM pg_notify({channel}, (next_number - 1)::text);
    END IF;
END
$body$
"""

_V1: tuple[Step, ...] = (
    """
    CREATE TABLE {schema}.events (
        seq bigint PRIMARY KEY,
        batch_start bigint NOT NULL,
        occurred_at timestamptz NOT NULL,
        event_type text NOT NULL,
        payload jsonb NOT NULL
    )
    -- Fresh statistics keep lookups on the right index: a type that appeared after the last ANALYZE
    -- looks rare to the planner, which then walks all its events by type instead of using the payload
    -- index. Re-analyze after every 1% of growth (PostgreSQL's default is 10%).
    WITH (autovacuum_analyze_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.05)
    """,
    "CREATE INDEX events_type_seq ON {schema}.events (event_type, seq)",
    # fastupdate off: a pending list would make every context check scan up to 4 MB of unsorted entries
    # until the next vacuum; appends instead pay for their few index entries at once.
    "CREATE INDEX events_payload ON {schema}.events USING gin (payload jsonb_path_ops) WITH (fastupdate = off)",
    """
    CREATE TABLE {schema}.head (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        seq bigint NOT NULL
    )
    """,
    "INSERT INTO {schema}.head (seq) VALUES (0)",
    """
    CREATE TABLE {schema}.durable_cursors (
        name text PRIMARY KEY,
        filters_json text NOT NULL,
        cursor bigint NOT NULL
    )
    """,
    _V1_CONTEXT_VERSION_FUNCTION,
    _V1_APPEND_BATCHES_FUNCTION,
)


def _fill_postings(conn: psycopg.Connection[tuple[object, ...]], names: dict[str, sql.Composable]) -> None:
    """Write the postings of every event already in the log (version 1 had none), in chunks of the log."""
    read = sql.SQL(
        "SELECT seq, event_type, payload::text FROM {schema}.events WHERE seq > %s ORDER BY seq LIMIT %s"
    ).format(schema=names["schema"])
    copy = sql.SQL("COPY {schema}.postings (term, type_key, seq) FROM STDIN").format(schema=names["schema"])
    after = 0
    while True:
        rows = conn.execute(read, [after, _FILL_CHUNK]).fetchall()
        if not rows:
            return
        with conn.cursor().copy(copy) as writer:
            for seq, event_type, payload in rows:
                key = type_key(str(event_type))
                for term in payload_terms(msgspec.json.decode(str(payload))):
                    writer.write_row((term, key, seq))
        after = int(str(rows[-1][0]))


_FILL_CHUNK = 10_000

# Version 2: the posting index replaces the GIN index. The functions of version 1 are dropped, not replaced in
# place: a process still running version 1 gets an error from its next append instead of appending events without
# postings. Version 2 also had its own functions; this step no longer creates them, because a migration always runs
# to the latest version in one transaction and version 3 would drop them at once. (A database that an older FACTSTR
# left at version 2 has them; version 3 drops them there.)
_V2: tuple[Step, ...] = (
    "DROP FUNCTION {schema}.append_batches(integer[], jsonb, text[], jsonb[], timestamptz[])",
    "DROP FUNCTION {schema}.context_version(jsonb)",
    "DROP INDEX {schema}.events_payload",
    """
    CREATE TABLE {schema}.postings (
        term bigint NOT NULL,
        type_key bigint NOT NULL,
        seq bigint NOT NULL
    )
    -- Vacuumed soon after inserts, so that the visibility map lets probes of the index skip the table.
    WITH (autovacuum_vacuum_insert_scale_factor = 0.05)
    """,
    _fill_postings,
    # Built after the backfill: one sort instead of an index insertion per posting. Not a primary key: rows are
    # distinct by construction (an event's terms are distinct, numbers are unique), and a unique index would
    # check that on every insertion (measured: 28 ms instead of 18 ms for the 6,000 postings of 1,000 events).
    "CREATE INDEX postings_term ON {schema}.postings (term, type_key, seq)",
)

# Version 3: every walk takes an upper bound (queries "as of" a number), a conflict returns the context's facts
# after the expected version, and appends may carry idempotency keys. The functions of version 2, where a database
# written by version 2 has them, are dropped, not replaced in place, for the reason given at version 2; a database
# migrated from version 1 in the same transaction never had them.
_V3: tuple[Step, ...] = (
    "DROP FUNCTION IF EXISTS {schema}.append_batches("
    "integer[], integer[], jsonb[], bigint[], bigint[], text[], bigint[], jsonb[], integer[], bigint[], timestamptz[])",
    "DROP FUNCTION IF EXISTS {schema}.matching_events(jsonb, bigint, bigint, boolean)",
    "DROP FUNCTION IF EXISTS {schema}.context_version(jsonb, bigint)",
    "DROP FUNCTION IF EXISTS {schema}.term_type_keys(bigint[])",
    # Idempotency keys (C9.4): one row per batch appended with a key, written in the batch's transaction under the
    # head lock; the digest of its events and its range of numbers. Kept forever.
    """
    CREATE TABLE {schema}.idempotency_keys (
        key text PRIMARY KEY,
        digest text NOT NULL,
        first_seq bigint NOT NULL,
        last_seq bigint NOT NULL
    )
    """,
    _functions.TERM_TYPE_KEYS,
    _functions.CONTEXT_VERSION,
    _functions.MATCHING_EVENTS,
    _functions.CONFLICT_FACTS,
    _functions.APPEND_BATCHES,
)

# Each version's steps (statements, or functions of the connection), applied in order inside the migration
# transaction. A database at version n gets the steps of n + 1 .. SCHEMA_VERSION.
_MIGRATIONS: dict[int, tuple[Step, ...]] = {1: _V1, 2: _V2, 3: _V3}

_CREATE_SCHEMA = "CREATE SCHEMA IF NOT EXISTS {schema}"
_CREATE_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS {schema}.schema_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version integer NOT NULL
)
"""
_READ_VERSION = "SELECT version FROM {schema}.schema_version"
_WRITE_VERSION = """
INSERT INTO {schema}.schema_version (version) VALUES (%s)
ON CONFLICT (singleton) DO UPDATE SET version = excluded.version
"""
# Transaction-level: released at commit or rollback, so a crashed migrator cannot keep it.
_LOCK_MIGRATION = "SELECT pg_advisory_xact_lock(%s)"
# A migration may wait for another process's and rebuild indexes: the store's statement timeout is not for it.
_NO_TIMEOUT = "SET LOCAL statement_timeout = 0"


def notify_channel(schema: str) -> str:
    """Return the LISTEN/NOTIFY channel of a schema: short, plain, and distinct per schema."""
    return "factstr_" + hashlib.blake2b(schema.encode(), digest_size=12).hexdigest()


def advisory_key(*parts: str) -> int:
    """Return a signed 64-bit advisory lock key for ``parts`` (the same in every process)."""
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8, person=b"factstr").digest()
    return int.from_bytes(digest, "big", signed=True)


def migrate(conn: psycopg.Connection[tuple[object, ...]], schema: str, version: int = SCHEMA_VERSION) -> None:
    """Create or upgrade the schema to ``version`` (the current one); raise SchemaVersionError if it is newer.

    Safe when several processes open the same schema at once: they take turns on an advisory lock, and the
    second finds the work done. Runs in its own transaction on ``conn`` (which must be in autocommit mode), so
    a migration that fails or is interrupted leaves the schema as it was. (``version`` below the current one is
    for tests that need a database as an older FACTSTR wrote it.)
    """
    names: dict[str, sql.Composable] = {
        "schema": sql.Identifier(schema),
        "channel": sql.Literal(notify_channel(schema)),
    }

    def statement(template: str) -> sql.Composed:
        return sql.SQL(template).format(**{key: names[key] for key in names if "{" + key + "}" in template})

    with conn.transaction():
        conn.execute(_NO_TIMEOUT)
        conn.execute(_LOCK_MIGRATION, [advisory_key("migrate", schema)])
        conn.execute(statement(_CREATE_SCHEMA))
        conn.execute(statement(_CREATE_VERSION_TABLE))
        row = conn.execute(statement(_READ_VERSION)).fetchone()
        found = 0 if row is None else int(str(row[0]))
        if found > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"PostgreSQL schema {schema!r} has version {found}; this FACTSTR understands up to "
                f"{SCHEMA_VERSION}. Upgrade FACTSTR to open it."
            )
        if found >= version:
            return
        for step_version in range(found + 1, version + 1):
            for step in _MIGRATIONS[step_version]:
                if isinstance(step, str):
                    conn.execute(statement(step))
                else:
                    step(conn, names)
        conn.execute(statement(_WRITE_VERSION), [version])
