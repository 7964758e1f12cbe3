"""SQL text of the SQLite store, and the compiler from validated filters to index-backed candidate reads.

Pure: no connection is touched here. A query is compiled into *sources*, each one ordered walk of one index
(``events_by_type`` for an event type, the full-text index ``event_terms`` for one payload term). The union of
the sources of a query holds every matching event (a necessary condition only); the store rechecks each candidate
with the reference matcher. Every source is bounded by ``:low < seq <= :high`` and ``LIMIT :limit``, so a read
costs what it returns, never the length of the log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from .._matching import Filters
from ._terms import predicate_words

# --- writing -------------------------------------------------------------------------------------------------

# Runs inside BEGIN IMMEDIATE: the write lock is held, so the next number is head + 1 with no other writer.
SELECT_HEAD = "SELECT coalesce(max(seq), 0) FROM events"
INSERT_EVENT = "INSERT INTO events (seq, batch_start, occurred_at, event_type, payload) VALUES (?, ?, ?, ?, ?)"
# One row per event: the words of its payload terms (see _terms), indexed by the full-text index.
INSERT_TERMS = "INSERT INTO event_terms (rowid, terms) VALUES (?, ?)"
# Inside the same transaction: a key committed by another writer, or by an earlier batch of this group, is seen.
SELECT_IDEMPOTENCY_KEY = "SELECT digest, first_seq, last_seq FROM idempotency_keys WHERE key = ?"
INSERT_IDEMPOTENCY_KEY = "INSERT INTO idempotency_keys (key, digest, first_seq, last_seq) VALUES (?, ?, ?, ?)"

# --- durable cursors (each runs in its own BEGIN IMMEDIATE transaction) ----------------------------------------

SELECT_CURSOR = "SELECT name, filters_json, cursor FROM durable_cursors WHERE name = ?"
SELECT_CURSORS = "SELECT name, filters_json, cursor FROM durable_cursors"
SAVE_CURSOR = """
    INSERT INTO durable_cursors (name, filters_json, cursor) VALUES (?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET filters_json = excluded.filters_json, cursor = excluded.cursor
"""
# The WHERE clause keeps a cursor from moving backwards whatever order two writers commit in.
ADVANCE_CURSOR = "UPDATE durable_cursors SET cursor = ? WHERE name = ? AND cursor < ?"
DELETE_CURSOR = "DELETE FROM durable_cursors WHERE name = ?"

# --- reading -------------------------------------------------------------------------------------------------

RECORD_COLUMNS = "seq, batch_start, occurred_at, event_type, payload"

# How many postings a selectivity probe counts at most: enough to tell a rare value from a common one.
PROBE_LIMIT = 256
PROBE_TYPE = f"SELECT count(*) FROM (SELECT 1 FROM events WHERE event_type = ? LIMIT {PROBE_LIMIT:d})"
PROBE_TERM = f"SELECT count(*) FROM (SELECT 1 FROM event_terms(?) LIMIT {PROBE_LIMIT:d})"

_ALL_FORWARD = f"""
    SELECT {RECORD_COLUMNS} FROM events
    WHERE seq > :low AND seq <= :high ORDER BY seq LIMIT :limit
"""
_ALL_BACKWARD = f"""
    SELECT {RECORD_COLUMNS} FROM events
    WHERE seq > :low AND seq <= :high ORDER BY seq DESC LIMIT :limit
"""


class TypeSource(NamedTuple):
    """Candidates from ``events_by_type``: the events of one type."""

    event_type: str


class TermSource(NamedTuple):
    """Candidates from the full-text index: the events whose payload has the term ``word``.

    ``types`` (when not ``None``) also restricts the candidates to those event types. A predicate's other terms
    are left to the matcher: the index intersects a rare term with a common one by reading the common one's
    postings, which would make a read cost what the log holds.
    """

    word: str
    types: tuple[str, ...] | None


Source = TypeSource | TermSource
Estimate = Callable[[Source], int]


class Statement(NamedTuple):
    """One SQL walk over candidates, in each direction, with its values (plus ``:low``, ``:high``, ``:limit``)."""

    forward_sql: str
    backward_sql: str
    values: dict[str, object]


class Plan(NamedTuple):
    """How to read the candidates of a query: ``sources`` (``None``: every event) and the statements that walk
    them. Several statements (a query with very many sources) are merged in sequence order by the reader."""

    sources: tuple[Source, ...] | None
    statements: tuple[Statement, ...]

    @property
    def empty(self) -> bool:
        """Whether no event can match (the query has no usable alternative)."""
        return self.sources == ()


# SQLite refuses a compound SELECT of more than 500 parts, so one statement walks at most this many sources; a
# term walk checks at most this many event types (checking none keeps the candidates a superset of the matches;
# the matcher decides anyway).
MAX_SOURCES_PER_STATEMENT = 100
MAX_CHECKED_TYPES = 64

_EVERY_EVENT = Plan(None, (Statement(_ALL_FORWARD, _ALL_BACKWARD, {}),))


def plan_query(filters: Filters, estimate: Estimate) -> Plan:
    """Compile validated filters into index walks; ``estimate`` counts a source's postings (capped).

    Per filter, the narrower of its two indexes is used: the event types, or one term walk per predicate
    (by the predicate's rarest term). A filter that neither narrows (no types, and some predicate
    without a scalar leaf such as ``{}``) makes the whole query read the log in order.
    """
    if filters is None:
        return _EVERY_EVENT
    sources: dict[Source, None] = {}  # ordered and without duplicates
    for flt in filters:
        chosen = _filter_sources(flt.types, flt.predicates, estimate)
        if chosen is None:
            return _EVERY_EVENT
        sources.update(dict.fromkeys(chosen))
    ordered = list(sources)
    statements = []
    for offset in range(0, len(ordered), MAX_SOURCES_PER_STATEMENT):
        part = ordered[offset : offset + MAX_SOURCES_PER_STATEMENT]
        values: dict[str, object] = {}
        forward = _candidates_sql(part, values, backwards=False)
        backward = _candidates_sql(part, {}, backwards=True)
        statements.append(Statement(forward, backward, values))
    return Plan(tuple(ordered), tuple(statements))


def _filter_sources(
    types: tuple[str, ...] | None, predicates: tuple[object, ...] | None, estimate: Estimate
) -> list[Source] | None:
    needed: list[tuple[str, ...]] | None = None
    if predicates is not None:
        needed = [predicate_words(predicate) for predicate in predicates]
        if not all(needed):
            needed = None  # some predicate (e.g. {} or []) has no scalar leaf: terms cannot narrow it
    by_type: list[Source] | None = None
    if types is not None:
        by_type = [TypeSource(event_type) for event_type in types]
    by_term: list[Source] | None = None
    if needed is not None:
        by_term = []
        checked_types = types if types is None or len(types) <= MAX_CHECKED_TYPES else None
        for words in needed:
            rarest = words[0] if len(words) == 1 else min(words, key=lambda w: estimate(TermSource(w, None)))
            by_term.append(TermSource(rarest, checked_types))
    if by_type is None or by_term is None:
        return by_type if by_type is not None else by_term
    if len(by_type) > MAX_CHECKED_TYPES:
        return by_term  # probing every type would cost more than it could save
    term_cost = sum(estimate(source) for source in by_term)
    type_cost = 0
    for source in by_type:
        type_cost += estimate(source)
        if type_cost >= term_cost:
            return by_term
    return by_type


def _candidates_sql(sources: list[Source], values: dict[str, object], *, backwards: bool) -> str:
    """Return one statement reading the rows of the first ``:limit`` candidates in ``(:low, :high]``."""
    order = "DESC" if backwards else "ASC"
    if len(sources) == 1:
        # One walk reads its rows directly: each candidate's row is fetched once, by primary key.
        return _source_sql(sources[0], 0, values, order, _ALIASED_COLUMNS)
    # Each walk is limited on its own, so the union holds at most len(sources) * :limit numbers.
    walks = [_source_sql(source, index, values, order, "e.seq") for index, source in enumerate(sources)]
    candidates = " UNION ".join(f"SELECT seq FROM ({walk})" for walk in walks)
    candidates += f" ORDER BY 1 {order} LIMIT :limit"
    return f"SELECT {RECORD_COLUMNS} FROM events WHERE seq IN ({candidates}) ORDER BY seq {order}"


_ALIASED_COLUMNS = "e.seq, e.batch_start, e.occurred_at, e.event_type, e.payload"


def _source_sql(source: Source, index: int, values: dict[str, object], order: str, columns: str) -> str:
    """Return one index walk: ``columns`` of the candidates of ``source`` (alias ``e``), ordered and limited."""
    name = f"s{index}"
    if isinstance(source, TypeSource):
        values[name] = source.event_type
        # INDEXED BY: the (event_type, seq) index, never the rowid range, which would read every type.
        return (
            f"SELECT {columns} FROM events AS e INDEXED BY events_by_type"
            f" WHERE e.event_type = :{name} AND e.seq > :low AND e.seq <= :high ORDER BY e.seq {order} LIMIT :limit"
        )
    # The word is the MATCH argument of the table-valued function: a parameter, never SQL text. The index
    # returns rowids (= seq) in the requested order from the bound, so ORDER BY ... LIMIT stops it early.
    values[name] = source.word
    # CROSS JOIN keeps the term walk as the outer loop: the events row is looked up per candidate.
    joined = columns != "e.seq" or source.types is not None
    sql = f"SELECT {columns.replace('e.seq', 't.rowid AS seq', 1)} FROM event_terms(:{name}) AS t"
    if joined:
        sql += " CROSS JOIN events AS e ON e.seq = t.rowid"
    sql += " WHERE t.rowid > :low AND t.rowid <= :high"
    if source.types is not None:
        names = []
        for y_index, event_type in enumerate(source.types):
            values[f"{name}y{y_index}"] = event_type
            names.append(f":{name}y{y_index}")
        sql += f" AND e.event_type IN ({', '.join(names)})"
    return sql + f" ORDER BY t.rowid {order} LIMIT :limit"
