"""The server-side functions as schema version 2 created them, kept unchanged for the migration chain.

A database at version 1 is brought to version 2 with exactly these, and version 3 replaces them
(:mod:`._functions` holds the current ones). Do not edit: a migration step must mean what it meant.
"""

from __future__ import annotations

_SETTINGS = """
SET search_path = {schema}, pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
"""

# The type keys that every one of ``terms`` occurs with, for sources without event types: a leapfrog over the
# postings index (the smallest key >= k of each term in turn, until all agree), so it costs about what the term
# with the fewest types holds, one probe per key, never the postings themselves.
TERM_TYPE_KEYS = (
    """
CREATE FUNCTION {schema}.term_type_keys(terms bigint[]) RETURNS bigint[]
LANGUAGE plpgsql STABLE
"""
    + _SETTINGS
    + """
AS $body$
DECLARE
    keys bigint[] := '{{}}';
    term_count integer := cardinality(terms);
    wanted bigint := -9223372036854775808;
    found bigint;
    agreed integer;
    i integer;
BEGIN
    LOOP
        agreed := 0;
        i := 1;
        LOOP
            SELECT q.type_key INTO found FROM postings AS q WHERE q.term = terms[i] AND q.type_key >= wanted
            ORDER BY q.term, q.type_key LIMIT 1;
            IF found IS NULL THEN
                RETURN keys;
            END IF;
            IF found > wanted THEN
                wanted := found;
                agreed := 1;
            ELSE
                agreed := agreed + 1;
            END IF;
            EXIT WHEN agreed = term_count;
            i := i % term_count + 1;
        END LOOP;
        keys := keys || wanted;
        IF wanted = 9223372036854775807 THEN
            RETURN keys;
        END IF;
        wanted := wanted + 1;
    END LOOP;
END
$body$
"""
)

CONTEXT_VERSION = (
    """
CREATE FUNCTION {schema}.context_version(spec jsonb, above bigint) RETURNS bigint
LANGUAGE plpgsql STABLE
"""
    + _SETTINGS
    + """
AS $body$
-- The highest sequence number above ``above`` of an event that matches the context ``spec``; NULL when none.
-- ``above`` = 0 gives the context's version (C3). STABLE: called from a statement, it reads that statement's
-- snapshot, so a version and the records or head read with it agree.
--
-- Each source is probed newest first, and only above the best number found so far, so after the first hit the
-- other sources cost empty index probes. The types of a source are probed together, one backward probe of an
-- index per type, in one statement; for a predicate of one term, the newest candidate over all its types is
-- rechecked on its row, which is all it takes unless that candidate is no match. Otherwise, and for predicates
-- of several terms, each type walks a zig-zag over the postings of the predicate's terms (the newest number <=
-- the candidate in each list in turn, until every list agrees), which costs what the rarest list holds, never
-- the log; each candidate is rechecked on its row.
DECLARE
    best bigint := above;
    hit bigint;
    source record;
    predicate jsonb;
    keys bigint[];
    wanted_key bigint;
    term_count integer;
    candidate bigint;
    agreed integer;
    i integer;
BEGIN
    IF spec = 'null'::jsonb THEN
        SELECT max(e.seq) INTO hit FROM events AS e WHERE e.seq > above;
        RETURN hit;
    END IF;
    FOR source IN SELECT * FROM jsonb_to_recordset(spec) AS s(y text[], k bigint[], p jsonb, a boolean, t bigint[])
    LOOP
        predicate := source.p -> 0;  -- wrapped in an array, so that a JSON null predicate is not SQL NULL
        IF predicate IS NULL THEN
            -- Types: one backward probe of the (event_type, seq) index each.
            SELECT max(x.seq) INTO hit FROM unnest(source.y) AS w(event_type)
            CROSS JOIN LATERAL (
                SELECT e.seq FROM events AS e WHERE e.event_type = w.event_type AND e.seq > best
                ORDER BY e.event_type DESC, e.seq DESC LIMIT 1
            ) AS x;
            best := greatest(best, hit);
            CONTINUE;
        END IF;
        IF source.t IS NULL THEN
            -- A predicate without a scalar leaf (an empty object or array ...): no term narrows it; each event is
            -- rechecked.
            IF source.y IS NULL THEN
                SELECT e.seq INTO hit FROM events AS e
                WHERE e.seq > best AND e.payload @> predicate AND (source.a OR jsonb_typeof(e.payload) <> 'array')
                ORDER BY e.seq DESC LIMIT 1;
            ELSE
                SELECT max(x.seq) INTO hit FROM unnest(source.y) AS w(event_type)
                CROSS JOIN LATERAL (
                    SELECT e.seq FROM events AS e
                    WHERE e.event_type = w.event_type AND e.seq > best
                      AND e.payload @> predicate AND (source.a OR jsonb_typeof(e.payload) <> 'array')
                    ORDER BY e.event_type DESC, e.seq DESC LIMIT 1
                ) AS x;
            END IF;
            best := greatest(best, hit);
            CONTINUE;
        END IF;
        keys := coalesce(source.k, term_type_keys(source.t));
        term_count := cardinality(source.t);
        IF term_count = 1 THEN
            SELECT max(x.seq) INTO candidate FROM unnest(keys) AS w(type_key)
            CROSS JOIN LATERAL (
                SELECT q.seq FROM postings AS q
                WHERE q.term = source.t[1] AND q.type_key = w.type_key AND q.seq > best
                ORDER BY q.term DESC, q.type_key DESC, q.seq DESC LIMIT 1
            ) AS x;
            CONTINUE WHEN candidate IS NULL;
            PERFORM 1 FROM events AS e
            WHERE e.seq = candidate AND (source.y IS NULL OR e.event_type = ANY(source.y))
              AND e.payload @> predicate AND (source.a OR jsonb_typeof(e.payload) <> 'array');
            IF FOUND THEN
                best := candidate;
                CONTINUE;
            END IF;
            -- The newest candidate is no match (another type with the same hash, say): walk each type below.
        END IF;
        FOREACH wanted_key IN ARRAY keys LOOP
            candidate := 9223372036854775807;
            LOOP
                agreed := 0;
                i := 1;
                LOOP
                    SELECT q.seq INTO hit FROM postings AS q
                    WHERE q.term = source.t[i] AND q.type_key = wanted_key AND q.seq > best AND q.seq <= candidate
                    ORDER BY q.term DESC, q.type_key DESC, q.seq DESC LIMIT 1;
                    EXIT WHEN hit IS NULL;
                    IF hit < candidate THEN
                        candidate := hit;
                        agreed := 1;
                    ELSE
                        agreed := agreed + 1;
                    END IF;
                    EXIT WHEN agreed = term_count;
                    i := i % term_count + 1;
                END LOOP;
                EXIT WHEN hit IS NULL;
                PERFORM 1 FROM events AS e
                WHERE e.seq = candidate AND (source.y IS NULL OR e.event_type = ANY(source.y))
                  AND e.payload @> predicate AND (source.a OR jsonb_typeof(e.payload) <> 'array');
                IF FOUND THEN
                    best := candidate;
                    EXIT;
                END IF;
                candidate := candidate - 1;
            END LOOP;
        END LOOP;
    END LOOP;
    IF best > above THEN
        RETURN best;
    END IF;
    RETURN NULL;
END
$body$
"""
)

MATCHING_EVENTS = (
    """
CREATE FUNCTION {schema}.matching_events(spec jsonb, after bigint, lim bigint, backwards boolean)
RETURNS TABLE (seq bigint, batch_start bigint, occurred_at timestamptz, event_type text, payload jsonb)
LANGUAGE plpgsql STABLE
"""
    + _SETTINGS
    + """
AS $body$
-- The first ``lim`` events after ``after`` (the last ones when ``backwards``) that each type of each source of
-- ``spec`` yields: the caller removes duplicates, orders and limits the union. Each walk is bounded by ``lim``, so
-- a read costs what it returns (times the number of walks), never the length of the log.
#variable_conflict use_column
DECLARE
    source record;
    predicate jsonb;
    keys bigint[];
    driver bigint;
BEGIN
    IF spec = 'null'::jsonb THEN
        IF backwards THEN
            RETURN QUERY SELECT e.seq, e.batch_start, e.occurred_at, e.event_type, e.payload FROM events AS e
                WHERE e.seq > after ORDER BY e.seq DESC LIMIT lim;
        ELSE
            RETURN QUERY SELECT e.seq, e.batch_start, e.occurred_at, e.event_type, e.payload FROM events AS e
                WHERE e.seq > after ORDER BY e.seq LIMIT lim;
        END IF;
        RETURN;
    END IF;
    FOR source IN SELECT * FROM jsonb_to_recordset(spec) AS s(y text[], k bigint[], p jsonb, a boolean, t bigint[])
    LOOP
        predicate := source.p -> 0;  -- wrapped in an array, so that a JSON null predicate is not SQL NULL
        IF source.t IS NULL AND source.y IS NOT NULL THEN
            -- Types, with or without a predicate that no term narrows: the (event_type, seq) index.
            IF backwards THEN
                RETURN QUERY SELECT x.* FROM unnest(source.y) AS w(event_type)
                CROSS JOIN LATERAL (
                    SELECT e.seq, e.batch_start, e.occurred_at, e.event_type, e.payload FROM events AS e
                    WHERE e.event_type = w.event_type AND e.seq > after
                      AND (predicate IS NULL
                           OR (e.payload @> predicate AND (source.a OR jsonb_typeof(e.payload) <> 'array')))
                    ORDER BY e.event_type DESC, e.seq DESC LIMIT lim
                ) AS x;
            ELSE
                RETURN QUERY SELECT x.* FROM unnest(source.y) AS w(event_type)
                CROSS JOIN LATERAL (
                    SELECT e.seq, e.batch_start, e.occurred_at, e.event_type, e.payload FROM events AS e
                    WHERE e.event_type = w.event_type AND e.seq > after
                      AND (predicate IS NULL
                           OR (e.payload @> predicate AND (source.a OR jsonb_typeof(e.payload) <> 'array')))
                    ORDER BY e.event_type, e.seq LIMIT lim
                ) AS x;
            END IF;
            CONTINUE;
        END IF;
        IF source.t IS NULL THEN
            -- A predicate without a scalar leaf for every type: the log in order, each event rechecked.
            IF backwards THEN
                RETURN QUERY SELECT e.seq, e.batch_start, e.occurred_at, e.event_type, e.payload FROM events AS e
                    WHERE e.seq > after AND e.payload @> predicate AND (source.a OR jsonb_typeof(e.payload) <> 'array')
                    ORDER BY e.seq DESC LIMIT lim;
            ELSE
                RETURN QUERY SELECT e.seq, e.batch_start, e.occurred_at, e.event_type, e.payload FROM events AS e
                    WHERE e.seq > after AND e.payload @> predicate AND (source.a OR jsonb_typeof(e.payload) <> 'array')
                    ORDER BY e.seq LIMIT lim;
            END IF;
            CONTINUE;
        END IF;
        IF cardinality(source.t) = 1 THEN
            driver := source.t[1];
        ELSE
            -- The term with the fewest postings (counted up to a bound) drives the walk; the recheck does the rest.
            SELECT d.term INTO driver FROM unnest(source.t) AS d(term)
            ORDER BY (
                SELECT count(*) FROM (
                    SELECT 1 FROM postings AS q WHERE q.term = d.term ORDER BY q.term LIMIT 256
                ) AS c
            )
            LIMIT 1;
        END IF;
        keys := coalesce(source.k, term_type_keys(source.t));
        -- The driving term's postings of each type, walked in order, each candidate rechecked on its row.
        IF backwards THEN
            RETURN QUERY SELECT x.* FROM unnest(keys) AS w(type_key)
            CROSS JOIN LATERAL (
                SELECT e.seq, e.batch_start, e.occurred_at, e.event_type, e.payload
                FROM postings AS q JOIN events AS e ON e.seq = q.seq
                WHERE q.term = driver AND q.type_key = w.type_key AND q.seq > after
                  AND (source.y IS NULL OR e.event_type = ANY(source.y))
                  AND e.payload @> predicate AND (source.a OR jsonb_typeof(e.payload) <> 'array')
                ORDER BY q.term DESC, q.type_key DESC, q.seq DESC LIMIT lim
            ) AS x;
        ELSE
            RETURN QUERY SELECT x.* FROM unnest(keys) AS w(type_key)
            CROSS JOIN LATERAL (
                SELECT e.seq, e.batch_start, e.occurred_at, e.event_type, e.payload
                FROM postings AS q JOIN events AS e ON e.seq = q.seq
                WHERE q.term = driver AND q.type_key = w.type_key AND q.seq > after
                  AND (source.y IS NULL OR e.event_type = ANY(source.y))
                  AND e.payload @> predicate AND (source.a OR jsonb_typeof(e.payload) <> 'array')
                ORDER BY q.term, q.type_key, q.seq LIMIT lim
            ) AS x;
        END IF;
    END LOOP;
END
$body$
"""
)

APPEND_BATCHES = (
    """
CREATE FUNCTION {schema}.append_batches(
    batch_sizes integer[],
    posting_counts integer[],
    specs jsonb[],
    expected bigint[],
    seen_heads bigint[],
    event_types text[],
    type_keys bigint[],
    payloads jsonb[],
    posting_events integer[],
    posting_terms bigint[],
    occurred_ats timestamptz[],
    OUT first_numbers bigint[],
    OUT actual_versions bigint[],
    OUT notified text
)
LANGUAGE plpgsql
"""
    + _SETTINGS
    + """
AS $body$
-- Commits a group of batches: batch i is batch_sizes[i] consecutive entries of event_types/type_keys/payloads
-- and posting_counts[i] consecutive entries of posting_terms/posting_events (the position of the posting's
-- event in its batch, from 1). specs is NULL when no batch has a condition; else specs[i] is NULL (a plain
-- append) or the context spec whose version must be expected[i]. seen_heads[i], when not NULL, is the head of a
-- snapshot in which the version was expected[i] (the store's query said so): then only the numbers above it are
-- checked. occurred_ats[i] is NULL (stamp the commit time)
-- or, for an imported batch, the time it was first committed. first_numbers[i] is the batch's first number, or
-- NULL when its condition failed, and then actual_versions[i] is the context's version. notified is the message
-- sent to the store's channel at commit: the new head, then, when every committed batch is small enough, the
-- first committed number and the committed batches themselves, "head first [[micros,[[type,payload],...]],...]"
-- (micros: the commit time in microseconds since the epoch; the JSON is the stored jsonb's text), so that
-- listening streams need not read them back.
--
-- The conditions are evaluated before the head lock is taken, all in one snapshot (unless known from a query);
-- a batch whose context has already moved fails without waiting. Under the lock only the facts committed after
-- that snapshot (normally none) are checked against each remaining context, then the batches are inserted with
-- their postings, the head moves and the new head is notified: the critical section is short, so writers in
-- several processes overlap everything but it.
DECLARE
    batch_count integer := cardinality(batch_sizes);
    seen bigint[];  -- per batch: the head of the snapshot in which its context's version was versions[i]
    versions bigint[];
    snapshot_head bigint;
    evaluate boolean := false;
    pending integer := cardinality(batch_sizes);
    head_before bigint;
    next_number bigint;
    batch integer;
    size integer;
    event_offset integer := 0;
    posting_offset integer := 0;
    actual bigint;
    committed_at timestamptz;
    body text;
    bodies text := '';
    complete boolean := true;  -- every committed batch so far has its body in bodies
BEGIN
    first_numbers := array_fill(NULL::bigint, ARRAY[batch_count]);
    actual_versions := first_numbers;
    IF specs IS NOT NULL THEN
        seen := coalesce(seen_heads, first_numbers);
        versions := first_numbers;
        FOR batch IN 1 .. batch_count LOOP
            evaluate := evaluate OR (specs[batch] IS NOT NULL AND seen[batch] IS NULL);
        END LOOP;
        IF evaluate THEN
            -- One statement, so one snapshot: the head it read is the bound of what the versions cover.
            SELECT h.seq,
                   array_agg(
                       CASE WHEN c.spec IS NULL OR seen[c.i] IS NOT NULL THEN NULL ELSE context_version(c.spec, 0) END
                       ORDER BY c.i
                   )
            INTO snapshot_head, versions
            FROM head AS h CROSS JOIN unnest(specs) WITH ORDINALITY AS c(spec, i)
            GROUP BY h.seq;
        END IF;
        FOR batch IN 1 .. batch_count LOOP
            CONTINUE WHEN specs[batch] IS NULL;
            IF seen[batch] IS NULL THEN
                seen[batch] := snapshot_head;
            ELSE
                versions[batch] := expected[batch];
            END IF;
            actual_versions[batch] := versions[batch];
            IF versions[batch] IS DISTINCT FROM expected[batch] THEN
                pending := pending - 1;
            END IF;
        END LOOP;
        IF pending = 0 THEN
            RETURN;
        END IF;
    END IF;
    -- The serialisation point. The head row stays locked until this transaction commits, so one writer at a
    -- time assigns numbers (gapless: a failed transaction releases the lock and its numbers are reused) and
    -- the next writer gets the lock only after this commit is visible (numbers become visible in order).
    SELECT h.seq INTO head_before FROM head AS h FOR UPDATE;
    next_number := head_before + 1;
    FOR batch IN 1 .. batch_count LOOP
        size := batch_sizes[batch];
        IF specs IS NOT NULL AND specs[batch] IS NOT NULL THEN
            IF versions[batch] IS DISTINCT FROM expected[batch] THEN
                event_offset := event_offset + size;
                posting_offset := posting_offset + posting_counts[batch];
                CONTINUE;
            END IF;
            IF next_number - 1 > seen[batch] THEN
                -- A later statement than the lock: under READ COMMITTED it takes a new snapshot, which holds the
                -- commits this writer waited for and this group's earlier batches. Only numbers above the head
                -- the version was known at can have changed it.
                actual := context_version(specs[batch], seen[batch]);
                IF actual IS NOT NULL THEN
                    actual_versions[batch] := actual;
                    event_offset := event_offset + size;
                    posting_offset := posting_offset + posting_counts[batch];
                    CONTINUE;
                END IF;
            END IF;
        END IF;
        -- Taken under the lock, so occurred_at never goes backwards along the log; one value per batch.
        committed_at := coalesce(occurred_ats[batch], clock_timestamp());
        WITH inserted AS (
            INSERT INTO events (seq, batch_start, occurred_at, event_type, payload)
            SELECT next_number + x.i - 1, next_number, committed_at, x.t, x.p
            FROM unnest(
                event_types[event_offset + 1 : event_offset + size],
                payloads[event_offset + 1 : event_offset + size]
            ) WITH ORDINALITY AS x(t, p, i)
            RETURNING seq, event_type, payload
        ), posted AS (
            -- In index order: consecutive insertions land on the same pages of the index.
            INSERT INTO postings (term, type_key, seq)
            SELECT x.term, type_keys[event_offset + x.e], next_number + x.e - 1
            FROM unnest(
                posting_terms[posting_offset + 1 : posting_offset + posting_counts[batch]],
                posting_events[posting_offset + 1 : posting_offset + posting_counts[batch]]
            ) AS x(term, e)
            ORDER BY 1, 2, 3
        )
        SELECT string_agg('[' || to_json(i.event_type)::text || ',' || i.payload::text || ']', ',' ORDER BY i.seq)
               FILTER (WHERE complete AND size <= 16)
        INTO body FROM inserted AS i;
        IF body IS NULL THEN
            complete := false;
        ELSIF complete THEN
            body := '[' || round(extract(epoch FROM committed_at) * 1000000)::bigint || ',[' || body || ']]';
            bodies := CASE WHEN bodies = '' THEN body ELSE bodies || ',' || body END;
        END IF;
        first_numbers[batch] := next_number;
        next_number := next_number + size;
        event_offset := event_offset + size;
        posting_offset := posting_offset + posting_counts[batch];
    END LOOP;
    IF next_number > head_before + 1 THEN
        UPDATE head SET seq = next_number - 1;
        notified := (next_number - 1)::text;
        IF complete THEN
            body := notified || ' ' || (head_before + 1)::text || ' [' || bodies || ']';
            IF octet_length(body) < 7900 THEN  -- a notification holds less than 8000 bytes
                notified := body;
            END IF;
        END IF;
        -- Delivered at commit, only if it commits, to every session listening then, in commit order.
        PERFORM pg_notify({channel}, notified);
    END IF;
END
$body$
"""
)
