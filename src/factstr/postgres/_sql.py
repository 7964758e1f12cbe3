"""The SQL a PostgreSQL store runs, and the compiler from validated filters to a WHERE clause.

Statement templates name tables as ``{events}``, ``{head}``, ... ; the store fills them in once with quoted
identifiers (``psycopg.sql.Identifier``). Every value travels as a parameter (``%s``). The compiler is pure:
it returns SQL text built only from the fragments below, plus the parameters that go with it.
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from .._matching import Filters
from .._model import JSON
from ._jsonb import jsonb_text

_encode = msgspec.json.Encoder().encode

# --- writing ---------------------------------------------------------------------------------------------

# One round trip per group of batches: the function locks the head row, checks each condition in a later
# statement, inserts, moves the head and notifies, and the statement commits on its own (autocommit).
APPEND_BATCHES = (
    "SELECT first_numbers, actual_versions"
    " FROM {schema}.append_batches(%s, %s::jsonb, %s, %s::jsonb[], %s::timestamptz[])"
)

# --- reading ---------------------------------------------------------------------------------------------

HEAD = "SELECT seq FROM {head}"

# Statistics upkeep (see _statistics). reltuples is -1 while the table was never analyzed.
ANALYZE = "ANALYZE {events}"
ANALYZED_ROWS = "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass"

# One statement, so one snapshot: the context_version function is STABLE and reads this statement's snapshot.
# MATERIALIZED makes it run once (a plain subquery would be pulled up and the call repeated on every row).
# The LEFT JOIN keeps the version row when no record matches (then the record columns are NULL).
QUERY = """
WITH version AS MATERIALIZED (SELECT {schema}.context_version(%s::jsonb) AS value)
SELECT version.value, record.seq, record.occurred_at, record.event_type, record.payload::text
FROM version
LEFT JOIN LATERAL (
    SELECT seq, occurred_at, event_type, payload FROM {events}
    WHERE seq > %s AND ({where})
    ORDER BY seq {direction}
    LIMIT %s
) AS record ON true
"""

# One statement, so the head and the records come from one snapshot (the head is the scan's horizon when
# fewer records than the limit match).
SCAN = """
SELECT head.seq, record.seq, record.batch_start, record.occurred_at, record.event_type, record.payload::text
FROM {head} AS head
LEFT JOIN LATERAL (
    SELECT seq, batch_start, occurred_at, event_type, payload FROM {events}
    WHERE seq > %s AND ({where})
    ORDER BY seq
    LIMIT %s
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

# Custom plans always: a generic plan for ``payload @> $1`` cannot pick the index the actual value needs.
# UTC, so that occurred_at comes back as an aware datetime in UTC. No JIT: compiling a statement with many
# predicates took minutes and ignored cancel requests meanwhile. The statement timeout (milliseconds, 0: none)
# bounds what any one statement may cost the server.
CONFIGURE_SESSION = (
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', false), set_config('TimeZone', 'UTC', false),"
    " set_config('jit', 'off', false), set_config('statement_timeout', %s, false)"
)

# --- the filter compiler ---------------------------------------------------------------------------------

_TYPE_IS = "event_type = %s"
_TYPE_IN = "event_type = ANY(%s)"
_CONTAINS = "payload @> %s::jsonb"
# jsonb's @> lets a top-level array contain a scalar; C2 never lets a scalar predicate match an array.
_CONTAINS_SCALAR = "(payload @> %s::jsonb AND jsonb_typeof(payload) <> 'array')"


class Where(NamedTuple):
    """A compiled WHERE condition and its parameters, in order."""

    text: str
    params: list[object]


def compile_where(filters: Filters) -> Where:
    """Compile validated filters to a condition on the events table that holds exactly when C2 matches.

    Equivalence with the reference matcher rests on ``@>`` agreeing with C2 below the top level and on
    :mod:`._jsonb` writing numbers exactly; the property-based tests check it on random documents.
    """
    if filters is None:
        return Where("true", [])
    if not filters:
        return Where("false", [])
    alternatives = []
    params: list[object] = []
    for flt in filters:
        parts = []
        if flt.types is not None:
            if len(flt.types) == 1:
                # A single type keeps the (event_type, seq) index usable for ordered reads.
                parts.append(_TYPE_IS)
                params.append(flt.types[0])
            else:
                parts.append(_TYPE_IN)
                params.append(list(flt.types))
        if flt.predicates is not None:
            contains = []
            for predicate in flt.predicates:
                contains.append(_CONTAINS if _is_container(predicate) else _CONTAINS_SCALAR)
                params.append(jsonb_text(predicate))
            parts.append("(" + " OR ".join(contains) + ")")
        alternatives.append("(" + " AND ".join(parts) + ")")
    return Where(" OR ".join(alternatives), params)


def filters_jsonb(filters: Filters) -> str:
    """Return the JSON text the ``context_version`` function takes for validated filters."""
    if filters is None:
        return "null"
    alternatives = []
    for flt in filters:
        types = "null" if flt.types is None else _encode(flt.types).decode()
        predicates = (
            "null"
            if flt.predicates is None
            else "[" + ",".join(jsonb_text(predicate) for predicate in flt.predicates) + "]"
        )
        alternatives.append(f'{{"t":{types},"p":{predicates}}}')
    return "[" + ",".join(alternatives) + "]"


def _is_container(value: JSON) -> bool:
    return type(value) is dict or type(value) is list
