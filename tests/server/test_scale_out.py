"""Several ``factstr serve`` processes over one PostgreSQL database work as one store, behind any balancer.

The balancer here is a plain round-robin TCP proxy (``proxy.py``): no sticky routing, so a stream's
acknowledgements, its closing and its reconnections reach whichever server comes next.

Needs a PostgreSQL server (``FACTSTR_POSTGRES_URL``); skipped with the reason when none answers, failed when
``FACTSTR_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from factstr import DurableStreamActive, EventQuery, EventRecord, NewEvent
from factstr.client import HTTPStore

from ..cli.test_serve import start_server
from .conftest import SSE
from .proxy import RoundRobinProxy

SECRET = "a secret every server behind the balancer shares"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    from factstr.testing._postgres_backend import drop_schema, require_server, url_with_schema

    require_server()
    schema = f"factstr_scale_{uuid.uuid4().hex}"
    try:
        yield url_with_schema(schema)
    finally:
        drop_schema(schema)


@pytest.fixture
def proxy() -> Iterator[RoundRobinProxy]:
    with RoundRobinProxy() as balancer:
        yield balancer


def _servers(postgres_url: str, tmp_path: Path, count: int, *extra: str) -> list[tuple[subprocess.Popen[str], str]]:
    return [
        start_server(tmp_path, "--store", postgres_url, "--stream-secret", SECRET, "--heartbeat-seconds", "1", *extra)
        for _ in range(count)
    ]


def _stop(servers: list[tuple[subprocess.Popen[str], str]]) -> None:
    for process, _ in servers:
        process.terminate()
    for process, _ in servers:
        process.communicate(timeout=20)


@pytest.fixture
def balanced(postgres_url: str, tmp_path: Path, proxy: RoundRobinProxy) -> Iterator[list[str]]:
    """Three servers over one database behind the round-robin proxy; yields their own URLs."""
    servers = _servers(postgres_url, tmp_path, 3, "--allowed-host", f"127.0.0.1:{proxy.port}")
    proxy.route_to([("127.0.0.1", int(url.rsplit(":", 1)[1])) for _, url in servers])
    try:
        yield [url for _, url in servers]
    finally:
        _stop(servers)


def _numbers(batches: list[list[EventRecord]]) -> list[int]:
    return [record.sequence_number for batch in batches for record in batch]


def test_two_servers_over_one_postgres_database_work_as_one(postgres_url: str, tmp_path: Path) -> None:
    servers = _servers(postgres_url, tmp_path, 2)
    try:
        with HTTPStore(servers[0][1]) as first, HTTPStore(servers[1][1]) as second:
            live: list[list[EventRecord]] = []
            durable: list[list[EventRecord]] = []
            with (
                first.stream_all(live.append) as live_stream,
                first.stream_all_durable("shared", durable.append) as durable_stream,
            ):
                # The durable name is held across processes.
                with pytest.raises(DurableStreamActive):
                    second.stream_all_durable("shared", durable.append)
                # Appends through the second process reach streams served by the first.
                result = second.append([NewEvent("via-second", {"n": 1}), NewEvent("via-second", {"n": 2})])
                assert live_stream.wait_until(result.last_sequence_number, timeout=20)
                assert first.append([NewEvent("via-first", {})]).first_sequence_number == 3
                assert live_stream.wait_until(3, timeout=20)
                assert durable_stream.wait_until(3, timeout=20)
            assert [[r.sequence_number for r in batch] for batch in live] == [[1, 2], [3]]
            assert [[r.sequence_number for r in batch] for batch in durable] == [[1, 2], [3]]
            info = second.durable_stream("shared")
            assert info is not None and (info.cursor, info.active) == (3, False)
            assert second.query(EventQuery()).current_context_version == 3
    finally:
        _stop(servers)


def test_another_server_takes_a_durable_streams_acknowledgements_and_its_close(balanced: list[str]) -> None:
    holder, acker, closer = balanced
    with HTTPStore(holder) as store:
        store.append([NewEvent("a", {})])
        store.append([NewEvent("b", {})])
    with httpx.Client(timeout=10) as http:
        with http.stream("GET", holder + "/streams/durable/elsewhere") as response:
            sse = SSE(response)
            sse.next_of("ready")
            first = sse.next_of("message")[2]
            ack = {"sequence_number": 1, "stream_token": first}
            assert http.post(acker + "/streams/durable/elsewhere/ack", json=ack).status_code == 204
            # The acknowledging server stored the cursor in the shared database; every server sees it.
            info = http.get(closer + "/durable_streams/elsewhere").json()
            assert (info["cursor"], info["active"]) == (1, True)
            second = sse.next_of("message")[2]
            # The holder follows the stored cursor: batch 2 acknowledged elsewhere lets it move on too.
            ack = {"sequence_number": 2, "stream_token": second}
            assert http.post(acker + "/streams/durable/elsewhere/ack", json=ack).status_code == 204
            # An acknowledgement beyond what the token says was delivered is refused on any server.
            beyond = http.post(acker + "/streams/durable/elsewhere/ack", json={**ack, "sequence_number": 3})
            assert (beyond.status_code, beyond.json()["code"]) == (422, "invalid_input")
        # The client closed its connection; a third server confirms the close once the name is released.
        closed = http.delete(closer + "/streams/durable/elsewhere", params={"stream_token": second})
        assert closed.status_code == 204
        info = http.get(acker + "/durable_streams/elsewhere").json()
        assert (info["cursor"], info["active"]) == (2, False)


def test_a_server_refuses_a_token_signed_with_another_secret(postgres_url: str, tmp_path: Path) -> None:
    servers = [*_servers(postgres_url, tmp_path, 1), start_server(tmp_path, "--store", postgres_url)]
    try:
        (_, signer), (_, stranger) = servers
        with HTTPStore(signer) as store:
            store.append([NewEvent("a", {})])
        with httpx.Client(timeout=10) as http, http.stream("GET", signer + "/streams/durable/secret") as response:
            token = SSE(response).next_of("message")[2]
            refused = http.post(
                stranger + "/streams/durable/secret/ack", json={"sequence_number": 1, "stream_token": token}
            )
            assert (refused.status_code, refused.json()["code"]) == (422, "invalid_input")
    finally:
        _stop(servers)


def test_python_clients_behind_a_round_robin_balancer_see_one_store(
    balanced: list[str], proxy: RoundRobinProxy
) -> None:
    with HTTPStore(proxy.url) as store:
        live: list[list[EventRecord]] = []
        durable: list[list[EventRecord]] = []
        with store.stream_all(live.append) as live_stream, store.stream_all_durable("balanced", durable.append) as held:

            def write(writer: int) -> None:
                with HTTPStore(proxy.url) as own:  # its own connections: they land on other servers
                    for n in range(10):
                        own.append([NewEvent("written", {"writer": writer, "n": n})])

            writers = [threading.Thread(target=write, args=(w,)) for w in range(3)]
            for thread in writers:
                thread.start()
            for thread in writers:
                thread.join()
            assert live_stream.wait_until(30, timeout=20)
            assert held.wait_until(30, timeout=20)
        assert _numbers(live) == _numbers(durable) == list(range(1, 31))
        info = store.durable_stream("balanced")
        assert info is not None and (info.cursor, info.active) == (30, False)
    assert len([target for target, count in proxy.connections_by_target.items() if count]) == 3


def test_streams_reconnecting_to_another_server_resume_without_gap_or_duplicate(
    balanced: list[str], proxy: RoundRobinProxy
) -> None:
    with HTTPStore(proxy.url) as store:
        live: list[list[EventRecord]] = []
        durable: list[list[EventRecord]] = []
        with store.stream_all(live.append) as live_stream, store.stream_all_durable("moving", durable.append) as held:
            for round_number in range(4):
                for n in range(5):
                    store.append([NewEvent("e", {"round": round_number, "n": n})])
                # Every connection drops: each stream reconnects through the balancer, to the next server.
                proxy.cut()
                time.sleep(0.2)
            store.append([NewEvent("last", {})])
            assert live_stream.wait_until(21, timeout=30)
            assert held.wait_until(21, timeout=30)
        assert _numbers(live) == list(range(1, 22))
        assert _numbers(durable) == list(range(1, 22))
        # The streams' connections were spread over every server.
        assert all(proxy.connections_by_target.get(target) for target in proxy.targets)
        info = store.durable_stream("moving")
        assert info is not None and (info.cursor, info.active) == (21, False)
