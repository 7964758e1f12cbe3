"""Bearer tokens, listen-address rules, stream quotas, CORS."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest
from starlette.types import Scope

from factstr.server._security import Access, BrowserRules, check_listen_address, is_loopback

from .conftest import SSE, Served, serve


def test_token_is_required_when_configured() -> None:
    for served in serve(token="s3cret"):
        refused = served.http.post("/query", json={})
        assert (refused.status_code, refused.json()["code"]) == (401, "unauthorized")
        assert refused.headers["www-authenticate"] == "Bearer"
        wrong = served.http.post("/query", json={}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        accepted = served.http.post("/query", json={}, headers={"Authorization": "Bearer s3cret"})
        assert accepted.status_code == 200


def test_streams_and_metrics_need_the_token_too() -> None:
    for served in serve(token="s3cret"):
        assert served.http.get("/streams/live").status_code == 401
        assert served.http.get("/metrics").status_code == 401
        assert served.http.get("/durable_streams").status_code == 401


def test_health_and_the_api_description_need_no_token() -> None:
    for served in serve(token="s3cret"):
        assert served.http.get("/healthz").status_code == 200
        assert served.http.get("/openapi.json").status_code == 200


def test_token_comparison() -> None:
    access = Access(token="abc")
    assert access.principal("Bearer abc") is not None
    assert access.principal("bearer abc") is not None
    assert access.principal("Bearer abcd") is None
    assert access.principal("Basic abc") is None
    assert access.principal(None) is None
    assert access.principal("Bearer é") is None
    assert access.principal("Bearer ") is None


def test_tokens_reach_what_they_are_for() -> None:
    access = Access(token="t", admin_token="a", namespace_tokens={"acme": "n", "globex": "n2"})
    admin, default, acme = access.principal("Bearer a"), access.principal("Bearer t"), access.principal("Bearer n")
    assert admin is not None and admin.admin and admin.reaches("acme") and admin.reaches("default")
    assert default is not None and not default.admin and default.reaches("default") and not default.reaches("acme")
    assert acme is not None and not acme.admin and acme.reaches("acme")
    assert not acme.reaches("globex") and not acme.reaches("default")
    # Without an admin token, the server's one token administers (as before namespaces).
    only = Access(token="t").principal("Bearer t")
    assert only is not None and only.admin
    # Without any token everything is open.
    assert Access().principal(None) == Access().principal("Bearer whatever")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_addresses_need_no_token(host: str) -> None:
    assert is_loopback(host)
    check_listen_address(host, None, insecure=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "example.com"])
def test_other_addresses_are_refused_without_a_token(host: str) -> None:
    with pytest.raises(SystemExit, match="token"):
        check_listen_address(host, None, insecure=False)
    check_listen_address(host, "t", insecure=False)
    check_listen_address(host, None, insecure=True)


def test_open_streams_per_client_are_bounded() -> None:
    for served in serve(max_streams_per_client=2):
        streams = [served.http.stream("GET", "/streams/live") for _ in range(2)]
        responses = [stream.__enter__() for stream in streams]
        try:
            readers = [SSE(response) for response in responses]
            for reader in readers:
                reader.next_of("ready")
            refused = served.http.get("/streams/live")
            assert (refused.status_code, refused.json()["code"]) == (429, "too_many_streams")
        finally:
            for stream in streams:
                stream.__exit__(None, None, None)


def test_cors_is_off_by_default() -> None:
    for served in serve():
        response = served.http.options(
            "/query", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert "access-control-allow-origin" not in response.headers


def test_cors_allows_only_the_configured_origins() -> None:
    for served in serve(cors_origins=["https://app.example"]):
        allowed = served.http.post("/query", json={}, headers={"Origin": "https://app.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        other = served.http.post("/query", json={}, headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


# --- browsers: cross-site requests and DNS rebinding (docs/server.md, "Browsers") ----------------------------

EVIL = "https://evil.example"
APPEND = {"events": [{"event_type": "forged", "payload": {}}]}


def test_a_browsers_simple_cross_site_post_commits_nothing(served: Served) -> None:
    port = served.server.port
    # What a page on evil.example can make a browser send without a preflight, with DNS rebinding on top.
    for headers in (
        {"Origin": EVIL, "Content-Type": "text/plain", "Host": f"evil.example:{port}"},
        {"Origin": EVIL, "Content-Type": "text/plain"},
        {"Origin": EVIL, "Content-Type": "application/json"},
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"},
        {"Sec-Fetch-Site": "same-site", "Content-Type": "application/json"},
        {"Origin": "null", "Content-Type": "application/json"},
    ):
        response = served.http.post("/append", content=json.dumps(APPEND), headers=headers)
        assert response.status_code in (403, 415), (headers, response.text)
        assert response.json()["code"] in {"host_not_allowed", "origin_not_allowed", "unsupported_media_type"}
    assert served.store.head() is None


def test_each_refusal_has_its_own_code(served: Served) -> None:
    port = served.server.port
    rebound = served.http.get("/head", headers={"Host": f"evil.example:{port}"})
    assert (rebound.status_code, rebound.json()["code"]) == (403, "host_not_allowed")
    foreign = served.http.post("/append", json=APPEND, headers={"Origin": EVIL})
    assert (foreign.status_code, foreign.json()["code"]) == (403, "origin_not_allowed")
    not_json = served.http.post("/append", content=json.dumps(APPEND), headers={"Content-Type": "text/plain"})
    assert (not_json.status_code, not_json.json()["code"]) == (415, "unsupported_media_type")
    no_type = served.http.post("/append", content=json.dumps(APPEND))
    assert (no_type.status_code, no_type.json()["code"]) == (415, "unsupported_media_type")
    assert served.store.head() is None


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "LOCALHOST"])
def test_loopback_names_with_the_bound_port_are_answered(served: Served, host: str) -> None:
    response = served.http.get("/head", headers={"Host": f"{host}:{served.server.port}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "host", ["evil.example", "localhost", "127.0.0.1:1", "localhost.evil.example:{port}", "127.0.0.1.nip.io:{port}"]
)
def test_other_hosts_and_ports_are_refused(served: Served, host: str) -> None:
    response = served.http.get("/head", headers={"Host": host.format(port=served.server.port)})
    assert (response.status_code, response.json()["code"]) == (403, "host_not_allowed")


def test_a_cross_site_page_cannot_register_or_reset_a_durable_stream(served: Served) -> None:
    for headers in ({"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}):
        response = served.http.get("/streams/durable/victim?reset=true&start=end", headers=headers)
        assert (response.status_code, response.json()["code"]) == (403, "origin_not_allowed")
    assert served.store.durable_stream("victim") is None


def test_cross_site_reads_are_answered_but_the_browser_keeps_them_from_the_page(served: Served) -> None:
    # No CORS header: a browser hides the answer from the page; tools that send Origin keep working.
    response = served.http.get("/head", headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_same_origin_pages_keep_working_with_a_token() -> None:
    for served in serve(token="s3cret"):
        origin = f"http://127.0.0.1:{served.server.port}"
        headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin", "Authorization": "Bearer s3cret"}
        appended = served.http.post("/append", json=APPEND, headers=headers)
        assert appended.status_code == 200, appended.text
        with served.http.stream("GET", "/streams/durable/page", headers=headers) as response:
            assert response.status_code == 200
            SSE(response).next_of("ready")
        # The token does not lift the browser rules: a foreign page is refused before the token is looked at.
        foreign = served.http.post("/append", json=APPEND, headers={**headers, "Origin": EVIL})
        assert (foreign.status_code, foreign.json()["code"]) == (403, "origin_not_allowed")
        assert served.store.head() == 1


def test_allowed_hosts_and_origins_extend_the_rules() -> None:
    for served in serve(allowed_hosts=["factstr.internal"], allowed_origins=["https://app.example/"]):
        assert served.http.get("/head", headers={"Host": "factstr.internal"}).status_code == 200
        assert served.http.get("/head", headers={"Host": "factstr.internal:8443"}).status_code == 200
        assert served.http.get("/head", headers={"Host": "other.internal"}).status_code == 403
        allowed = served.http.post("/append", json=APPEND, headers={"Origin": "https://app.example"})
        assert allowed.status_code == 200
        assert "access-control-allow-origin" not in allowed.headers  # allowed to act, not to read: that is CORS
    for served in serve(allowed_hosts=["*"], cors_origins=["https://app.example"]):
        assert served.http.get("/head", headers={"Host": "anything.example"}).status_code == 200
        allowed = served.http.post("/append", json=APPEND, headers={"Origin": "https://app.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"


def _scope(host: str | None, server: tuple[str, int], **headers: str) -> Scope:
    raw = [(b"host", host.encode())] if host is not None else []
    raw += [(name.replace("_", "-").lower().encode(), value.encode()) for name, value in headers.items()]
    return {"type": "http", "method": "GET", "path": "/head", "scheme": "http", "headers": raw, "server": server}


def test_a_non_loopback_listener_answers_any_host_unless_allowed_hosts_are_given() -> None:
    public = ("10.1.2.3", 7117)
    assert BrowserRules().refusal(_scope("factstr.example.com", public)) is None
    assert BrowserRules().refusal(_scope(None, public)) is None
    restricted = BrowserRules.of(["factstr.example.com"], [])
    assert restricted.refusal(_scope("factstr.example.com", public)) is None
    refused = restricted.refusal(_scope("evil.example", public))
    assert refused is not None and refused.code == "host_not_allowed"
    assert restricted.refusal(_scope("10.1.2.3:7117", public)) is None  # a probe by address
    # Requests from this machine to a 0.0.0.0 listener come over loopback: the loopback rule applies to them.
    local = ("127.0.0.1", 7117)
    assert BrowserRules().refusal(_scope("127.0.0.1:7117", local)) is None
    rebound = BrowserRules().refusal(_scope("evil.example:7117", local))
    assert rebound is not None and rebound.code == "host_not_allowed"


def test_factstr_serve_takes_the_browser_and_timeout_options(tmp_path: Path) -> None:
    from tests.cli.test_serve import start_server

    process, url = start_server(
        tmp_path,
        "--store",
        "memory://",
        "--allowed-host",
        "factstr.test",
        "--allowed-origin",
        "https://app.example",
        "--request-timeout",
        "0.5",
    )
    try:
        assert httpx.get(url + "/head", headers={"Host": "factstr.test"}).status_code == 200
        assert httpx.get(url + "/head", headers={"Host": "evil.example"}).status_code == 403
        allowed = httpx.post(url + "/append", json=APPEND, headers={"Origin": "https://app.example"})
        assert allowed.status_code == 200
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as connection:
            connection.sendall(b"GET /head HTTP/1.1\r\nHost: factstr.test\r\n")
            connection.settimeout(10)
            assert connection.recv(1024).startswith(b"HTTP/1.1 408")
    finally:
        process.terminate()
        process.communicate(timeout=20)
