"""The SQL a PostgreSQL store runs.

Statement templates name tables as ``{events}``, ``{head}``, ... ; the store fills them in once with quoted
identifiers (``psycopg.sql.Identifier``). Every value travels as a parameter, and every statement's text is fixed,
so that each is prepared once per connection: matching happens in the server-side functions of :mod:`._functions`,
which take a query as one JSON parameter (:func:`._terms.context_spec`). The hot statements (appends, queries,
stream reads, the head) have ``$n`` placeholders and text parameters, or binary ones for an append's arrays with an
element per event or posting (:mod:`._prepared`); the others ``%s``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

# --- writing ---------------------------------------------------------------------------------------------

# One round trip per group of batches: the function evaluates the conditions, locks the head row, inserts the
# events and their postings, moves the head and notifies, and the statement commits on its own (autocommit).
APPEND_BATCHES = (
    "SELECT first_numbers, actual_versions, notified, conflicts, replays FROM {schema}.append_batches("
    "$1::integer[], $2::integer[], $3::jsonb[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[], $8::jsonb[],"
    " $9::integer[], $10::bigint[], $11::timestamptz[], $12::text[], $13::text[])"
)


# Arrays travel as the text of array literals, built here: psycopg's list adaptation inspects every element
# in Python and escapes strings with a regular expression, which cost more than the rest of a small append.


def int_array(values: Iterable[int | None]) -> str:
    """The text of an integer array literal (NULL for None)."""
    return "{" + ",".join("NULL" if value is None else str(value) for value in values) + "}"


def text_array(values: Iterable[str | None]) -> str:
    """The text of a text array literal: every element quoted, with backslashes and quotes escaped."""
    return (
        "{"
        + ",".join(
            "NULL" if value is None else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values
        )
        + "}"
    )


def timestamp_array(values: list[datetime | None]) -> str | None:
    """The text of a timestamptz array literal, or None (SQL NULL) when every value is None."""
    if all(value is None for value in values):
        return None
    return text_array([None if value is None else value.isoformat() for value in values])


# --- reading ---------------------------------------------------------------------------------------------

HEAD = "SELECT seq FROM {head}"

# Statistics upkeep (see _statistics). reltuples is -1 while the table was never analyzed.
ANALYZE = "ANALYZE {events}, {postings}"
ANALYZED_ROWS = "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass"

# One statement, so one snapshot: both functions are STABLE and read this statement's snapshot. MATERIALIZED
# makes the version run once (a plain subquery would be pulled up and the call repeated on every row). The LEFT
# JOIN keeps the version row when no record matches (then the record columns are NULL). matching_events yields
# each source's first matches; the union is made distinct, ordered and limited here.
# The version, the head of the same snapshot (what the version covers), then the records: the number, the
# commit time, the type, the payload (read in binary format, see _prepared). $1 is the spec, $2 the bound
# (min_sequence_number), $3 the limit (NULL: none), $4 the upper bound (max_sequence_number, or the largest bigint).
_QUERY = """
WITH version AS MATERIALIZED (
    SELECT {schema}.context_version($1::jsonb, 0, $4::bigint) AS value, (SELECT seq FROM {head}) AS head
)
SELECT version.value, version.head, record.seq, record.occurred_at,
       record.event_type, record.payload
FROM version
LEFT JOIN LATERAL (
    SELECT DISTINCT ON (m.seq) m.seq, m.occurred_at, m.event_type, m.payload
    FROM {schema}.matching_events($1::jsonb, $2::bigint, $4::bigint, $3::bigint, {backwards}) AS m
    ORDER BY m.seq {direction}
    LIMIT $3::bigint
) AS record ON true
"""
QUERY_FORWARD = _QUERY.replace("{backwards}", "false").replace("{direction}", "ASC")
QUERY_BACKWARD = _QUERY.replace("{backwards}", "true").replace("{direction}", "DESC")

# A query of a whole context (no bound, no limit) returns every match, so its version is its newest record: only
# the head of the snapshot (what the version covers) comes with the records. $1 is the spec.
_QUERY_WHOLE = """
SELECT head.seq, record.seq, record.occurred_at,
       record.event_type, record.payload
FROM {head} AS head
LEFT JOIN LATERAL (
    SELECT DISTINCT ON (m.seq) m.seq, m.occurred_at, m.event_type, m.payload
    FROM {schema}.matching_events($1::jsonb, 0, 9223372036854775807, NULL, {backwards}) AS m
    ORDER BY m.seq {direction}
) AS record ON true
"""
QUERY_WHOLE_FORWARD = _QUERY_WHOLE.replace("{backwards}", "false").replace("{direction}", "ASC")
QUERY_WHOLE_BACKWARD = _QUERY_WHOLE.replace("{backwards}", "true").replace("{direction}", "DESC")

# A query without filters: every event matches, so the version is the head (none for an empty log) and the
# records are a walk of the primary key. $1 is the lower bound, $2 the limit, $3 the upper bound (the version is
# then the bound, when the log reaches it).
_QUERY_ALL = """
SELECT nullif(least(head.seq, $3::bigint), 0), head.seq, record.seq, record.occurred_at,
       record.event_type, record.payload
FROM {head} AS head
LEFT JOIN LATERAL (
    SELECT e.seq, e.occurred_at, e.event_type, e.payload FROM {events} AS e
    WHERE e.seq > $1::bigint AND e.seq <= $3::bigint ORDER BY e.seq {direction} LIMIT $2::bigint
) AS record ON true
"""
QUERY_ALL_FORWARD = _QUERY_ALL.replace("{direction}", "ASC")
QUERY_ALL_BACKWARD = _QUERY_ALL.replace("{direction}", "DESC")

# One statement, so the head and the records come from one snapshot (the head is the scan's horizon when
# fewer records than the limit match).
SCAN = """
SELECT head.seq, record.seq, record.batch_start, record.occurred_at,
       record.event_type, record.payload
FROM {head} AS head
LEFT JOIN LATERAL (
    SELECT DISTINCT ON (m.seq) m.seq, m.batch_start, m.occurred_at, m.event_type, m.payload
    FROM {schema}.matching_events($1::jsonb, $2::bigint, 9223372036854775807, $3::bigint, false) AS m
    ORDER BY m.seq
    LIMIT $3::bigint
) AS record ON true
"""

# A stream read without filters. $1 is the bound, $2 the limit.
SCAN_ALL = """
SELECT head.seq, record.seq, record.batch_start, record.occurred_at,
       record.event_type, record.payload
FROM {head} AS head
LEFT JOIN LATERAL (
    SELECT e.seq, e.batch_start, e.occurred_at, e.event_type, e.payload FROM {events} AS e
    WHERE e.seq > $1::bigint ORDER BY e.seq LIMIT $2::bigint
) AS record ON true
"""

# --- durable cursors -------------------------------------------------------------------------------------

LOAD_CURSOR = "SELECT name, filters_json, cursor FROM {cursors} WHERE name = %s"
SAVE_CURSOR = """
INSERT INTO {cursors} (name, filters_json, cursor) VALUES (%s, %s, %s)
ON CONFLICT (name) DO UPDATE SET filters_json = excluded.filters_json, cursor = excluded.cursor
"""
# The condition keeps a cursor from moving backwards even if two writers race.
ADVANCE_CURSOR = "UPDATE {cursors} SET cursor = %s WHERE name = %s AND cursor < %s"
LIST_CURSORS = "SELECT name, filters_json, cursor FROM {cursors}"
DELETE_CURSOR = "DELETE FROM {cursors} WHERE name = %s"

# --- holds -----------------------------------------------------------------------------------------------

# Session-level advisory locks: held until unlocked or until the session ends, however it ends.
TRY_HOLD = "SELECT pg_try_advisory_lock(%s)"
RELEASE_HOLD = "SELECT pg_advisory_unlock(%s)"
# A bigint advisory key shows in pg_locks as classid (high 32 bits), objid (low 32 bits), objsubid 1.
IS_HELD = """
SELECT EXISTS (
    SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 1
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid = %s::bigint::oid AND objid = %s::bigint::oid
)
"""

# --- connections -----------------------------------------------------------------------------------------

# Generic plans: every statement the store prepares has one good plan whatever its values (matching happens in
# functions that set their own plans), so it is planned once per connection, not on every call. UTC, so that
# occurred_at comes back as an aware datetime in UTC. No JIT: compiling a statement with many predicates took
# minutes and ignored cancel requests meanwhile. The statement timeout (milliseconds, 0: none) bounds what any
# one statement may cost the server.
CONFIGURE_SESSION = (
    "SELECT set_config('plan_cache_mode', 'force_generic_plan', false), set_config('TimeZone', 'UTC', false),"
    " set_config('jit', 'off', false), set_config('statement_timeout', %s, false)"
)
