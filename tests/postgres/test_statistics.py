"""The store refreshes the planner's statistics itself when the log grows fast."""

from __future__ import annotations

import threading
from typing import Any

import psycopg

from factstr import NewEvent
from factstr.postgres import PostgresStore
from factstr.postgres._statistics import GROWTH_MINIMUM, StatisticsKeeper, next_threshold


def test_thresholds_grow_with_the_analyzed_size() -> None:
    assert next_threshold(-1) == next_threshold(0) == GROWTH_MINIMUM
    assert next_threshold(1_000_000) == 1_250_000 + GROWTH_MINIMUM


def test_one_refresh_at_a_time_and_none_after_close() -> None:
    release = threading.Event()
    runs: list[int] = []

    def analyze() -> None:
        runs.append(1)
        release.wait(5)

    keeper = StatisticsKeeper(analyze, 0)
    keeper.note_head(GROWTH_MINIMUM - 1)
    keeper.note_head(GROWTH_MINIMUM)
    keeper.note_head(10 * GROWTH_MINIMUM)  # a refresh is running: not a second one
    release.set()
    keeper.close()
    keeper.note_head(100 * GROWTH_MINIMUM)
    assert runs == [1]


def test_a_fast_growing_log_gets_statistics_without_waiting_for_autovacuum(
    store: PostgresStore, admin: psycopg.Connection[Any]
) -> None:
    for start in range(0, GROWTH_MINIMUM, 2_000):
        store.append([NewEvent("grown", {"i": i}) for i in range(start, start + 2_000)])
    store.close()  # waits for a refresh in progress
    row = admin.execute(
        "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [f'"{store.schema}".events']
    ).fetchone()
    assert row is not None and row[0] >= GROWTH_MINIMUM * 0.9
