"""Bearer tokens, listen-address rules, stream quotas, CORS."""

from __future__ import annotations

import pytest

from factstr.server._security import check_listen_address, is_loopback, token_matches

from .conftest import SSE, serve


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
    assert token_matches("Bearer abc", "abc")
    assert token_matches("bearer abc", "abc")
    assert not token_matches("Bearer abcd", "abc")
    assert not token_matches("Basic abc", "abc")
    assert not token_matches(None, "abc")
    assert not token_matches("Bearer é", "abc")


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
