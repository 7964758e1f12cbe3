"""GET /stats and GET /log: the read-only routes the inspector needs beyond the store contract (no browser)."""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from factstr import EventRecord, EventStore, MemoryStore, NewEvent, connect
from factstr.client import HTTPStore
from factstr.server import ServerThread, _stats, create_app
from factstr.server._stats import RATE_BUCKET_SECONDS, RATE_BUCKETS, LogStatistics, read_page

TOKEN = "stats-token"


class Served:
    def __init__(self, store: EventStore, server: ServerThread) -> None:
        self.store = store
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=10, headers={"Authorization": f"Bearer {TOKEN}"})


@pytest.fixture
def served() -> Iterator[Served]:
    with tempfile.TemporaryDirectory() as workdir:
        store = connect(f"sqlite:///{workdir}/stats.db")
        server = ServerThread(create_app(store, token=TOKEN)).start()
        served = Served(store, server)
        try:
            yield served
        finally:
            served.http.close()
            server.stop()
            store.close()


def _stats_when_counted(served: Served, head: int) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        stats: dict[str, Any] = served.http.get("/stats").json()
        if stats["counted_through"] >= head or time.monotonic() > deadline:
            return stats
        time.sleep(0.02)


def test_stats_counts_facts_per_type_over_the_whole_log_and_follows_new_batches(served: Served) -> None:
    served.store.append([NewEvent("opened", {}), NewEvent("deposited", {}), NewEvent("deposited", {})])
    served.store.append([NewEvent("closed", {})])
    stats = _stats_when_counted(served, 4)
    assert stats["head"] == 4
    assert stats["counted_through"] == 4
    assert stats["event_types"] == [
        {"event_type": "deposited", "count": 2},
        {"event_type": "closed", "count": 1},
        {"event_type": "opened", "count": 1},
    ]
    assert stats["store_kind"] == "sqlite"
    assert stats["version"] == __import__("factstr").__version__

    served.store.append([NewEvent("opened", {})])
    stats = _stats_when_counted(served, 5)
    assert {item["event_type"]: item["count"] for item in stats["event_types"]}["opened"] == 2


def test_stats_rate_covers_the_last_minutes_in_buckets_with_each_batch_counted_once(served: Served) -> None:
    served.store.append([NewEvent("a", {}), NewEvent("a", {})])
    served.store.append([NewEvent("b", {})])
    rate = _stats_when_counted(served, 3)["append_rate"]
    assert rate["bucket_seconds"] == RATE_BUCKET_SECONDS
    buckets = rate["buckets"]
    assert len(buckets) == RATE_BUCKETS
    assert sum(bucket["facts"] for bucket in buckets) == 3
    assert sum(bucket["batches"] for bucket in buckets) == 2
    starts = [datetime.fromisoformat(bucket["start"]) for bucket in buckets]
    step = timedelta(seconds=RATE_BUCKET_SECONDS)
    assert all(later - earlier == step for earlier, later in itertools.pairwise(starts))
    assert starts[-1] <= datetime.now(UTC) < starts[-1] + 2 * step  # the next bucket may have begun since


def _batch(first: int, size: int, when: datetime, event_type: str = "t") -> list[EventRecord]:
    return [EventRecord(first + i, when, event_type, {}) for i in range(size)]


def test_the_rate_window_leaves_out_batches_committed_before_it() -> None:
    with MemoryStore() as store:
        statistics = LogStatistics(store)
        now = datetime.now(UTC)
        statistics.count(_batch(1, 5, now - timedelta(seconds=RATE_BUCKETS * RATE_BUCKET_SECONDS + 60)))
        statistics.count(_batch(6, 2, now - timedelta(seconds=RATE_BUCKET_SECONDS * 3)))
        statistics.count(_batch(8, 1, now))
        snapshot = statistics.snapshot()
        assert [bucket.facts for bucket in snapshot.append_rate.buckets if bucket.facts] == [2, 1]
        assert snapshot.counted_through == 8
        assert snapshot.event_types[0].count == 8  # every fact is counted by type, old ones too


def test_types_beyond_the_limit_are_counted_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_stats, "MAX_COUNTED_TYPES", 2)
    with MemoryStore() as store:
        statistics = LogStatistics(store)
        now = datetime.now(UTC)
        statistics.count(_batch(1, 1, now, "a") + _batch(2, 1, now, "b") + _batch(3, 2, now, "c"))
        statistics.count(_batch(5, 1, now, "a"))
        snapshot = statistics.snapshot()
        assert [(item.event_type, item.count) for item in snapshot.event_types] == [("a", 2), ("b", 1)]
        assert snapshot.other_types_count == 2


def test_counting_starts_with_the_first_request_and_stops_with_the_app() -> None:
    with MemoryStore() as store:
        store.append([NewEvent("a", {})])
        app = create_app(store)
        statistics: LogStatistics = app.state.factstr_statistics
        with ServerThread(app) as server:
            assert store._streams == set(), "no counting before anyone asks"
            assert httpx.get(server.url + "/stats").status_code == 200
            assert len(store._streams) == 1
            httpx.get(server.url + "/stats")
            assert len(store._streams) == 1, "one counting stream per app, however many requests"
        assert store._streams == set(), "shutting the app down stops the counting stream"
        statistics.ensure_started()
        assert store._streams == set(), "a closed app does not start counting again"


def test_stats_and_log_need_the_token(served: Served) -> None:
    for path in ("/stats", "/log"):
        answer = httpx.get(served.server.url + path)
        assert answer.status_code == 401
        assert answer.json()["code"] == "unauthorized"


# --- /log ---------------------------------------------------------------------------------------------


def _numbers(page: dict[str, Any]) -> list[int]:
    return [record["sequence_number"] for record in page["records"]]


def test_log_pages_newest_first_in_both_directions_with_batch_numbers(served: Served) -> None:
    served.store.append([NewEvent("a", {"n": n}) for n in range(3)])  # 1..3
    served.store.append([NewEvent("b", {"n": n}) for n in range(4)])  # 4..7
    served.store.append([NewEvent("c", {"n": 0})])  # 8
    newest = served.http.get("/log", params={"limit": 3}).json()
    assert newest["head"] == 8
    assert _numbers(newest) == [8, 7, 6]
    assert [record["batch_first_sequence_number"] for record in newest["records"]] == [8, 4, 4]
    assert newest["records"][0]["event_type"] == "c"
    assert newest["records"][1]["payload"] == {"n": 3}
    assert newest["records"][0]["occurred_at"].endswith("Z")

    older = served.http.get("/log", params={"before": 6, "limit": 3}).json()
    assert _numbers(older) == [5, 4, 3]
    assert [record["batch_first_sequence_number"] for record in older["records"]] == [4, 4, 1]
    assert _numbers(served.http.get("/log", params={"before": 3, "limit": 3}).json()) == [2, 1]
    assert _numbers(served.http.get("/log", params={"before": 1}).json()) == []
    newer = served.http.get("/log", params={"after": 2, "limit": 3}).json()
    assert _numbers(newer) == [5, 4, 3]
    assert _numbers(served.http.get("/log", params={"after": 6, "limit": 5}).json()) == [8, 7]
    assert _numbers(served.http.get("/log", params={"after": 8}).json()) == []
    assert _numbers(served.http.get("/log", params={"before": 1000, "limit": 2}).json()) == [8, 7]


def test_log_of_an_empty_store_is_empty(served: Served) -> None:
    assert served.http.get("/log").json() == {"head": None, "records": []}


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "ten"},
        {"before": "-1"},
        {"after": "1.5"},
        {"before": "3", "after": "1"},
    ],
)
def test_log_refuses_bad_parameters_with_a_coded_error(served: Served, params: dict[str, str]) -> None:
    answer = served.http.get("/log", params=params)
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_input"


def test_a_log_page_is_one_bounded_read_whatever_the_size_of_the_log() -> None:
    reads: list[tuple[int, int]] = []
    with MemoryStore() as store:
        for _ in range(50):
            store.append([NewEvent("t", {}) for _ in range(20)])
        scan = store._scan

        def counting_scan(after: int, filters: Any, limit: int) -> Any:
            reads.append((after, limit))
            return scan(after, filters, limit)

        store._scan = counting_scan  # type: ignore[method-assign]
        page = read_page(store, before=500, after=None, limit=50)
        assert [r.sequence_number for r in page.records] == list(range(499, 449, -1))
        assert reads == [(449, 50)]


def test_a_log_page_through_a_store_that_forwards_to_another_server_has_no_batch_numbers() -> None:
    with MemoryStore() as upstream, ServerThread(create_app(upstream)) as server, HTTPStore(server.url) as client:
        client.append([NewEvent("t", {}), NewEvent("t", {})])
        page = read_page(client, before=None, after=None, limit=10)
        assert [(r.sequence_number, r.batch_first_sequence_number) for r in page.records] == [(2, None), (1, None)]
