"""PostgreSQL outages (issue 11, item 14): fail fast while the server is down, work at once when it is back.

The outage test stops and starts a cluster of its own; the hung-database test blocks a table on the shared
server (in the test's own schema).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from factstr import BackendError, EventQuery, NewEvent
from factstr.postgres import PostgresStore
from factstr.server import ServerThread, create_app

from .cluster import own_cluster

Admin = psycopg.Connection[Any]

HEALTH_ANSWER_SECONDS = 1.0
RECOVERY_SECONDS = 2.0
APPEND = {"events": [{"event_type": "t", "payload": {"n": 1}}]}


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.fixture
def http_over() -> Iterator[Any]:
    """Serve a store over HTTP; yields a function that starts the server and returns a client."""
    running: list[tuple[ServerThread, httpx.Client]] = []

    def start(store: PostgresStore) -> httpx.Client:
        server = ServerThread(create_app(store)).start()
        client = httpx.Client(base_url=server.url, timeout=60)
        running.append((server, client))
        return client

    try:
        yield start
    finally:
        for server, client in running:
            client.close()
            server.stop()


def test_while_the_server_is_down_requests_fail_fast_and_the_first_one_after_it_is_back_succeeds(
    http_over: Any,
) -> None:
    with own_cluster() as cluster, PostgresStore(cluster.url(), pool_size=4) as store:
        http = http_over(store)
        assert http.post("/append", json=APPEND).status_code == 200
        assert http.get("/healthz").json() == {"status": "ok", "head": 1}

        cluster.stop()
        for _ in range(3):  # every request, not just the first: no pool wait piles up
            health, took = timed(lambda: http.get("/healthz"))
            assert took < HEALTH_ANSWER_SECONDS
            assert health.status_code == 503
            problem = health.json()
            assert (problem["code"], problem["detail"]) == ("backend_error", "the database is unavailable")
            for response, took in (
                timed(lambda: http.post("/append", json=APPEND)),
                timed(lambda: http.post("/query", json={})),
                timed(lambda: http.get("/head")),
            ):
                assert took < HEALTH_ANSWER_SECONDS
                assert (response.status_code, response.json()["code"]) == (503, "backend_error")
        started = time.monotonic()
        with pytest.raises(BackendError, match=r"127\.0\.0\.1"):
            store.query(EventQuery())
        assert time.monotonic() - started < HEALTH_ANSWER_SECONDS

        cluster.start()
        response, took = timed(lambda: http.post("/append", json=APPEND))
        assert response.status_code == 200 and took < RECOVERY_SECONDS
        assert response.json()["first_sequence_number"] == 2
        assert http.get("/healthz").json() == {"status": "ok", "head": 2}
        assert store.append([NewEvent("t", 3)]).first_sequence_number == 3


def test_healthz_answers_within_a_second_when_the_database_hangs(
    http_over: Any, url: str, schema: str, admin: Admin
) -> None:
    with PostgresStore(url) as store:
        http = http_over(store)
        assert http.get("/healthz").status_code == 200
        with admin.transaction():
            admin.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(schema, "head")))
            response, took = timed(lambda: http.get("/healthz"))
        assert took < HEALTH_ANSWER_SECONDS + 0.5
        assert response.status_code == 503
        problem = response.json()
        assert (problem["code"], problem["detail"]) == (
            "backend_error",
            "the database is unavailable: no answer within 1 s",
        )
        assert http.get("/healthz").status_code == 200
