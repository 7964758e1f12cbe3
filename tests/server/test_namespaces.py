"""Namespaces (issue 17): independent logs behind one server, each with its own access."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from factstr import (
    ConditionalAppendConflict,
    EventFilter,
    EventQuery,
    EventRecord,
    EventStore,
    InvalidInput,
    MemoryStore,
    NewEvent,
    UnknownNamespace,
    connect,
)
from factstr.client import HTTPStore
from factstr.server import ServerThread, create_app

from .conftest import SSE

ADMIN = {"Authorization": "Bearer admin-secret"}
ALPHA = {"Authorization": "Bearer alpha-secret"}
BETA = {"Authorization": "Bearer beta-secret"}
TOKENS = {"alpha": "alpha-secret", "beta": "beta-secret"}


class Server:
    def __init__(self, store: EventStore, **options: Any) -> None:
        options.setdefault("heartbeat_seconds", 0.3)
        options.setdefault("progress_seconds", 0.02)
        self.store = store
        self.app = create_app(store, **options)
        self.thread = ServerThread(self.app).start()
        self.url = self.thread.url
        self.http = httpx.Client(base_url=self.url, timeout=10)
        self.clients: list[HTTPStore] = []

    def client(self, namespace: str | None = None, token: str | None = None) -> HTTPStore:
        client = HTTPStore(self.url, namespace=namespace, token=token)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.http.close()
        self.thread.stop()
        self.store.close()


def _postgres_store() -> tuple[EventStore, str]:
    from factstr.testing._postgres_backend import require_server, url_with_schema

    require_server()
    schema = f"tns_{uuid.uuid4().hex[:8]}"
    return connect(url_with_schema(schema)), schema


def _drop_postgres(schema: str) -> None:
    import psycopg
    from psycopg import sql

    from factstr.testing._postgres_backend import server_url

    with psycopg.connect(server_url(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_catalog.pg_namespace WHERE starts_with(nspname, %s)", [schema]
        ).fetchall()
        for (name,) in rows:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """A server with an admin token and tokens for namespaces alpha and beta, over SQLite or PostgreSQL."""
    schema = None
    if request.param == "sqlite":
        store: EventStore = connect(f"sqlite:///{tmp_path / 'main.db'}")
    else:
        store, schema = _postgres_store()
    served = Server(store, admin_token="admin-secret", namespace_tokens=TOKENS)
    try:
        yield served
    finally:
        served.close()
        if schema is not None:
            _drop_postgres(schema)


def _wait(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_two_namespaces_share_nothing(server: Server) -> None:
    alpha = server.client("alpha", "alpha-secret")
    beta = server.client("beta", "beta-secret")
    orders = EventQuery(filters=[EventFilter(event_types=["order"])])
    seen_by_beta: list[list[EventRecord]] = []

    with beta.stream_to(orders, seen_by_beta.append, start="beginning"):
        # Numbering: each log starts at 1.
        assert alpha.append([NewEvent("order", {"n": 1}), NewEvent("order", {"n": 2})]).last_sequence_number == 2
        assert beta.append([NewEvent("order", {"n": 10})]).first_sequence_number == 1
        assert (alpha.head(), beta.head()) == (2, 1)
        # Queries see their own log only.
        assert [r.payload for r in alpha.query(orders).event_records] == [{"n": 1}, {"n": 2}]
        assert [r.payload for r in beta.query(orders).event_records] == [{"n": 10}]
        # Conditional appends: a commit in beta does not change alpha's context, and the other way round.
        version = alpha.query(orders).current_context_version
        beta.append([NewEvent("order", {"n": 11})])
        alpha.append_if([NewEvent("order", {"n": 3})], orders, version)
        with pytest.raises(ConditionalAppendConflict):
            beta.append_if([NewEvent("order", {"n": 12})], orders, 1)
        # Streams: beta's stream got beta's batches only.
        _wait(lambda: sum(len(batch) for batch in seen_by_beta) == 2)
    assert [r.payload for batch in seen_by_beta for r in batch] == [{"n": 10}, {"n": 11}]

    # Durable cursors and holds: the same name in both namespaces is two cursors, held at the same time.
    handled: dict[str, list[int]] = {"alpha": [], "beta": []}

    def recorder(name: str) -> Any:
        return lambda batch: handled[name].extend(r.sequence_number for r in batch)

    with (
        alpha.stream_to_durable("projection", orders, recorder("alpha")) as in_alpha,
        beta.stream_to_durable("projection", orders, recorder("beta")) as in_beta,
    ):
        in_alpha.wait_until(3, timeout=10)
        in_beta.wait_until(2, timeout=10)
    assert (handled["alpha"], handled["beta"]) == ([1, 2, 3], [1, 2])
    alpha_cursor, beta_cursor = alpha.durable_stream("projection"), beta.durable_stream("projection")
    assert alpha_cursor is not None and beta_cursor is not None
    assert (alpha_cursor.cursor, beta_cursor.cursor) == (3, 2)
    beta.delete_durable_stream("projection")
    assert alpha.durable_stream("projection") is not None
    # The default namespace saw none of it.
    assert server.client(token="admin-secret").head() is None


def test_a_namespace_token_reaches_its_namespace_only_and_never_says_what_exists(server: Server) -> None:
    assert server.http.get("/ns/alpha/head", headers=ALPHA).json() == {"head": None}
    refusals = [
        server.http.get("/ns/beta/head", headers=ALPHA),  # exists
        server.http.get("/ns/gamma/head", headers=ALPHA),  # does not
        server.http.get("/head", headers=ALPHA),  # the default namespace
    ]
    assert {(r.status_code, r.text) for r in refusals} == {
        (403, '{"code":"forbidden","message":"this token does not reach that namespace"}')
    }
    for method, path in (("GET", "/namespaces"), ("POST", "/namespaces"), ("DELETE", "/namespaces/beta")):
        answer = server.http.request(method, path, headers=ALPHA, json={} if method == "POST" else None)
        assert answer.status_code == 403 and answer.json()["code"] == "forbidden"
    assert server.http.get("/metrics", headers=ALPHA).status_code == 403
    assert server.http.get("/ns/alpha/head").status_code == 401
    assert server.http.get("/ns/alpha/head", headers={"Authorization": "Bearer nope"}).status_code == 401
    # The admin token reaches every namespace, and administration.
    assert server.http.get("/ns/beta/head", headers=ADMIN).status_code == 200
    assert server.http.get("/ns/gamma/head", headers=ADMIN).json()["code"] == "unknown_namespace"
    # The Python client says the same.
    with pytest.raises(Exception, match="forbidden"):
        server.client("beta", "alpha-secret").head()


def test_tokens_are_never_logged(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("DEBUG"):
        server.http.get("/ns/alpha/head", headers=ALPHA)
        server.http.get("/ns/beta/head", headers=ALPHA)
        server.http.post("/namespaces", headers=ADMIN, json={"name": "logged"})
    assert not [r for r in caplog.records if "secret" in r.getMessage() or "secret" in str(r.__dict__)]


def test_the_default_token_keeps_working_and_administers_without_an_admin_token(tmp_path: Path) -> None:
    served = Server(MemoryStore(), token="old")
    try:
        headers = {"Authorization": "Bearer old"}
        assert (
            served.http.post(
                "/append", headers=headers, json={"events": [{"event_type": "a", "payload": None}]}
            ).status_code
            == 200
        )
        assert served.http.post("/namespaces", headers=headers, json={"name": "n"}).status_code == 201
        assert served.http.get("/ns/n/head", headers=headers).json() == {"head": None}
        assert served.http.get("/head").status_code == 401
    finally:
        served.close()
    served = Server(MemoryStore(), token="old", admin_token="root")
    try:
        headers = {"Authorization": "Bearer old"}
        assert served.http.get("/head", headers=headers).status_code == 200
        assert served.http.get("/ns/default/head", headers=headers).status_code == 200
        assert served.http.post("/namespaces", headers=headers, json={"name": "n"}).status_code == 403
        assert served.http.post("/namespaces", headers={"Authorization": "Bearer root"}, json={}).status_code == 201
    finally:
        served.close()


@pytest.mark.parametrize("name", ["Upper", "", "-lead", "_lead", "a/b", "a.b", "ä", "a" * 41, "sp ace", "a\nb"])
def test_names_outside_the_rule_are_refused_with_422(name: str) -> None:
    served = Server(MemoryStore())
    try:
        answer = served.http.post("/namespaces", json={"name": name})
        assert answer.status_code == 422 and answer.json()["code"] == "invalid_input"
        assert "lower-case ASCII letters" in answer.json()["message"]
        assert served.http.get("/namespaces").json()["namespaces"][1:] == []
    finally:
        served.close()


def test_names_inside_the_rule_work_and_default_is_the_unprefixed_log() -> None:
    served = Server(MemoryStore())
    try:
        for name in ("a", "0-9_z", "x" * 40):
            assert served.http.post("/namespaces", json={"name": name}).status_code == 201
        assert served.http.post("/namespaces", json={"name": "a"}).json()["code"] == "namespace_exists"
        assert served.http.post("/namespaces", json={"name": "default"}).status_code == 409
        assert served.http.get("/ns/Bad/head").status_code == 422
        served.http.post("/ns/default/append", json={"events": [{"event_type": "e", "payload": None}]})
        assert served.http.get("/head").json() == {"head": 1}
        names = [n["name"] for n in served.http.get("/namespaces").json()["namespaces"]]
        assert names == ["default", "0-9_z", "a", "x" * 40]
        # Only the log's routes exist under a namespace.
        for path in ("/ns/a/metrics", "/ns/a/namespaces", "/ns/a/openapi.json", "/ns/a/ui", "/ns/a"):
            assert served.http.get(path).status_code == 404
    finally:
        served.close()


def test_dropping_refuses_open_streams_unless_forced_which_ends_them(server: Server) -> None:
    created = server.http.post("/namespaces", headers=ADMIN, json={"name": "busy"})
    assert created.status_code == 201
    with server.http.stream("GET", "/ns/busy/streams/live", headers=ADMIN) as response:
        events = SSE(response)
        assert events.next()[0] == "ready"
        refused = server.http.delete("/namespaces/busy", headers=ADMIN)
        assert (refused.status_code, refused.json()["code"]) == (409, "namespace_busy")
        assert server.http.delete("/namespaces/busy?force=true", headers=ADMIN).status_code == 204
        event, data, _ = events.next()
        while event != "end":
            event, data, _ = events.next()
        assert data == {"reason": "namespace_dropped"}
    assert server.http.get("/ns/busy/head", headers=ADMIN).json()["code"] == "unknown_namespace"
    assert server.http.delete("/namespaces/busy", headers=ADMIN).status_code == 404
    with pytest.raises(UnknownNamespace):
        server.client("busy", "admin-secret").head()


def test_a_client_stream_ends_when_its_namespace_is_dropped(server: Server) -> None:
    admin = server.client(token="admin-secret")
    doomed = admin.create_namespace("doomed")
    server.clients.append(doomed)
    stream = doomed.stream_to(EventQuery(), lambda batch: None)
    admin.drop_namespace("doomed", force=True)
    _wait(lambda: stream.failure is not None, timeout=20)
    assert "unknown_namespace" in str(stream.failure) or "no namespace" in str(stream.failure)


def test_limits_on_namespaces_and_streams_per_namespace() -> None:
    served = Server(MemoryStore(), max_namespaces=2, max_streams_per_namespace=1)
    try:
        assert served.http.post("/namespaces", json={"name": "one"}).status_code == 201
        assert served.http.post("/namespaces", json={"name": "two"}).status_code == 201
        third = served.http.post("/namespaces", json={"name": "three"})
        assert (third.status_code, third.json()["code"]) == (429, "too_many_namespaces")
        with served.http.stream("GET", "/ns/one/streams/live") as first:
            first_events = SSE(first)
            assert first_events.next()[0] == "ready"
            second = served.http.get("/ns/one/streams/live")
            assert (second.status_code, second.json()["code"]) == (429, "too_many_streams")
            assert "namespace 'one'" in second.json()["message"]
            with served.http.stream("GET", "/ns/two/streams/live") as other:
                other_events = SSE(other)
                assert other_events.next()[0] == "ready"
        # The server forgets a stream once its response has ended, a moment after the client closed it.
        _wait(lambda: served.http.delete("/namespaces/two").status_code == 204)
        assert served.http.post("/namespaces", json={"name": "three"}).status_code == 201
    finally:
        served.close()


def test_an_ephemeral_namespace_goes_when_idle_but_not_while_streaming(tmp_path: Path) -> None:
    served = Server(connect(f"sqlite:///{tmp_path / 'main.db'}"), namespace_dir=str(tmp_path / "spaces"))
    try:
        quick = served.http.post("/namespaces", json={"ephemeral": True, "idle_timeout_seconds": 0.3}).json()
        assert quick["name"].startswith("ns-") and quick["ephemeral"] is True
        watched = served.http.post("/namespaces", json={"ephemeral": True, "idle_timeout_seconds": 2}).json()
        assert (tmp_path / "spaces" / f"{quick['name']}.db").exists()
        with served.http.stream("GET", f"/ns/{watched['name']}/streams/live") as response:
            events = SSE(response)  # kept: a reader that is collected closes its response
            assert events.next()[0] == "ready"
            _wait(lambda: not (tmp_path / "spaces" / f"{quick['name']}.db").exists())
            time.sleep(2.5)
            names = [n["name"] for n in served.http.get("/namespaces").json()["namespaces"]]
            assert names == ["default", watched["name"]]
        kept = served.http.post("/namespaces", json={"name": "kept"}).status_code
        assert kept == 201
        _wait(lambda: [n["name"] for n in served.http.get("/namespaces").json()["namespaces"]] == ["default", "kept"])
        refused = served.http.post("/namespaces", json={"name": "x", "idle_timeout_seconds": 5})
        assert refused.status_code == 422
    finally:
        served.close()


def test_ephemeral_namespaces_go_with_the_server_and_others_stay(tmp_path: Path) -> None:
    served = Server(connect(f"sqlite:///{tmp_path / 'main.db'}"))
    spaces = tmp_path / "main.db.namespaces"
    try:
        served.http.post("/namespaces", json={"name": "gone", "ephemeral": True})
        served.http.post("/namespaces", json={"name": "stays"})
        served.http.post("/ns/stays/append", json={"events": [{"event_type": "e", "payload": None}]})
    finally:
        served.close()
    assert sorted(path.name for path in spaces.glob("*.db")) == ["stays.db"]
    # A new server finds the namespace, and a direct connect opens the same log.
    with connect(f"sqlite:///{tmp_path / 'main.db'}", namespace="stays") as direct:
        assert direct.head() == 1
    served = Server(connect(f"sqlite:///{tmp_path / 'main.db'}"))
    try:
        assert served.http.get("/ns/stays/head").json() == {"head": 1}
        with connect(served.url + "/ns/stays") as remote:
            assert remote.head() == 1
    finally:
        served.close()


def test_metrics_are_labelled_per_existing_namespace(server: Server) -> None:
    server.client("alpha", "alpha-secret").append([NewEvent("e", None)])
    server.http.get("/ns/gamma/head", headers=ADMIN)
    text = server.http.get("/metrics", headers=ADMIN).text
    assert 'factstr_appends_total{namespace="alpha"} 1' in text
    assert 'factstr_head{namespace="alpha"} 1' in text
    assert 'namespace="gamma"' not in text
    # The inspector's statistics are per namespace too.
    stats = server.http.get("/ns/alpha/stats", headers=ALPHA).json()
    assert stats["head"] == 1 and server.http.get("/stats", headers=ADMIN).json()["head"] is None
    server.http.delete("/namespaces/alpha", headers=ADMIN)
    assert 'namespace="alpha"' not in server.http.get("/metrics", headers=ADMIN).text


def test_clients_select_a_namespace_by_option_or_url(server: Server) -> None:
    by_option = server.client("alpha", "alpha-secret")
    by_url = HTTPStore(server.url + "/ns/alpha/", token="alpha-secret")
    server.clients.append(by_url)
    by_option.append([NewEvent("e", 1)])
    assert (by_url.namespace, by_url.head()) == ("alpha", 1)
    assert by_url.url == server.url + "/ns/alpha"
    with pytest.raises(InvalidInput):
        HTTPStore(server.url + "/ns/alpha", namespace="beta")
    with pytest.raises(InvalidInput):
        HTTPStore(server.url, namespace="Not-A-Name")
    admin = server.client(token="admin-secret")
    with admin.create_namespace(ephemeral=True) as fresh:
        assert fresh.namespace in admin.namespaces()
        assert fresh.append([NewEvent("e", 1)]).first_sequence_number == 1
    admin.drop_namespace(fresh.namespace)
    assert fresh.namespace not in admin.namespaces()


def test_creating_namespaces_concurrently_is_safe() -> None:
    served = Server(MemoryStore(), max_namespaces=5)
    try:
        statuses: list[int] = []

        def create() -> None:
            with httpx.Client(base_url=served.url) as http:
                statuses.append(http.post("/namespaces", json={}).status_code)

        threads = [threading.Thread(target=create) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [201] * 5 + [429] * 3
    finally:
        served.close()
