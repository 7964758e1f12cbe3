"""Crash safety: a writer killed with SIGKILL at random moments never damages the file or loses a commit."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import time
from collections import defaultdict

import pytest

from factstr import NewEvent
from factstr.sqlite import SQLiteStore
from factstr.sqlite._terms import payload_words

from .conftest import child

_WRITER = """
    import json, random, sys
    from factstr import EventFilter, EventQuery, NewEvent
    from factstr.sqlite import SQLiteStore
    path, writer = sys.argv[1], sys.argv[2]
    with SQLiteStore(path) as store:
        for batch in range(10**9):
            size = random.randint(1, 5)
            events = [
                NewEvent(
                    random.choice(["opened", "moved", "closed"]),
                    {"writer": writer, "batch": batch, "size": size, "j": j, "tags": ["t", {"n": j % 3}], "x": 1.5},
                )
                for j in range(size)
            ]
            if batch % 4 == 3:  # a conditional append now and then, on a context it sees as current
                context = EventQuery(filters=[EventFilter(payload_predicates=[{"writer": writer}])])
                result = store.append_if(events, context, store.query(context).current_context_version)
            else:
                result = store.append(events)
            # Printed only after append returned, i.e. after COMMIT with synchronous=FULL.
            print(json.dumps([writer, batch, result.first_sequence_number, size]), flush=True)
"""


def _kill_writers(database: str, kills: int) -> list[list[object]]:
    """Run writers one after another on ``database``, killing each at a random moment; return their reports."""
    reported: list[list[object]] = []
    rng = random.Random()
    for writer in range(kills):
        process = child(_WRITER, database, f"w{writer}")
        # Sometimes while it starts (opening or even creating the file), mostly while it appends.
        time.sleep(rng.uniform(0.05, 0.8))
        process.send_signal(signal.SIGKILL)
        out, _ = process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL
        reported += [json.loads(line) for line in out.splitlines() if line.startswith("[")]
    return reported


def _check_file(database: str, reported: list[list[object]]) -> None:
    connection = sqlite3.connect(database)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = connection.execute("SELECT seq, batch_start, event_type, payload FROM events ORDER BY seq").fetchall()
        assert [row[0] for row in rows] == list(range(1, len(rows) + 1)), "numbers are not gapless"
        batches: dict[int, list[tuple[int, dict[str, object]]]] = defaultdict(list)
        for seq, batch_start, _, payload in rows:
            batches[batch_start].append((seq, json.loads(payload)))
        for batch_start, members in batches.items():
            first_payload = members[0][1]
            assert [seq for seq, _ in members] == list(range(batch_start, batch_start + len(members)))
            assert len(members) == first_payload["size"], "a partial batch is in the log"
            assert [p["j"] for _, p in members] == list(range(len(members)))
            assert {(p["writer"], p["batch"]) for _, p in members} == {
                (first_payload["writer"], first_payload["batch"])
            }
        connection.execute("INSERT INTO event_terms (event_terms) VALUES ('integrity-check')")
        connection.execute("CREATE VIRTUAL TABLE temp.postings USING fts5vocab(main, event_terms, instance)")
        terms: dict[int, set[str]] = defaultdict(set)
        for term, seq in connection.execute("SELECT term, doc FROM temp.postings"):
            terms[seq].add(term)
        for seq, _, _, payload in rows:
            assert terms.pop(seq, set()) == set(payload_words(json.loads(payload))), f"term index disagrees at {seq}"
        assert not terms, "term postings for events that do not exist"
        appends = [(members[0][1]["writer"], members[0][1]["batch"]) for members in batches.values()]
        assert len(appends) == len(set(appends)), "an append is in the log twice"
        for writer, batch, first, size in reported:
            assert isinstance(first, int)
            committed = batches.get(first)
            assert committed is not None, f"committed batch {writer}/{batch} at {first} is missing"
            assert len(committed) == size
            assert (committed[0][1]["writer"], committed[0][1]["batch"]) == (writer, batch)
    finally:
        connection.close()
    with SQLiteStore(database) as store:  # and the store opens it and goes on
        store.append(_one_more())


def _one_more() -> list[NewEvent]:
    return [NewEvent("after", {"writer": "main", "batch": 0, "size": 1, "j": 0})]


def _kill_concurrent_writers(database: str, kills: int, together: int = 3) -> list[list[object]]:
    """Keep ``together`` writers appending at once (queueing for the writers' lock), killing one at a time."""
    reported: list[list[object]] = []
    rng = random.Random()
    running = [child(_WRITER, database, f"w{writer}") for writer in range(together)]
    for kill in range(kills):
        time.sleep(rng.uniform(0.05, 0.4))
        victim = running.pop(rng.randrange(len(running)))
        victim.send_signal(signal.SIGKILL)
        out, _ = victim.communicate(timeout=30)
        reported += [json.loads(line) for line in out.splitlines() if line.startswith("[")]
        running.append(child(_WRITER, database, f"w{together + kill}"))
    for process in running:
        process.send_signal(signal.SIGKILL)
        out, _ = process.communicate(timeout=30)
        reported += [json.loads(line) for line in out.splitlines() if line.startswith("[")]
    return reported


def test_concurrent_writers_killed_at_random_leave_each_append_once(database: str) -> None:
    reported = _kill_concurrent_writers(database, 6)
    assert reported, "no writer got to commit anything; the kills came too early"
    _check_file(database, reported)


@pytest.mark.long
def test_many_concurrent_writers_killed_at_random_leave_each_append_once(database: str) -> None:
    reported = _kill_concurrent_writers(database, 30, together=4)
    _check_file(database, reported)


def test_killed_writers_leave_a_whole_gapless_log(database: str) -> None:
    reported = _kill_writers(database, 3)
    _check_file(database, reported)


@pytest.mark.long
def test_many_killed_writers_leave_a_whole_gapless_log(database: str) -> None:
    reported = _kill_writers(database, 25)
    assert reported, "no writer got to commit anything; the kills came too early"
    _check_file(database, reported)
