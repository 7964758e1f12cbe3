"""Durable names are exact over HTTP: what a client percent-encodes is the name, byte for byte (issue 11, item 11)."""

from __future__ import annotations

import contextlib
import http.client
import urllib.parse

import pytest

from factstr import InvalidInput
from factstr.client import HTTPStore

from .conftest import SSE, Served

# Names a store accepts that are awkward in a URL path; every one must be reachable through the API.
AWKWARD = [
    "a/b",
    "a%2Fb",
    "%ff",
    "a b",
    "a+b",
    "a?b#c",
    "x/reset",
    "/leading",
    "trailing/",
    "ü-名前-😀",
    "...",
    ".hidden",
    "back\\slash",
    "semi;colon",
    "e\u0301",
]


def _quoted(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _register(served: Served, name: str) -> None:
    with served.store.stream_all_durable(name, lambda batch: None, start="end"):
        pass


def test_a_trailing_newline_never_reaches_the_name_without_it(served: Served) -> None:
    _register(served, "victim")
    for method in ("DELETE", "GET"):
        response = served.http.request(method, "/durable_streams/victim%0A")
        # Without the character rule "victim\n" is another name (nothing to delete, unknown); with it, refused.
        assert response.status_code in (204, 404, 422), response.text
    reset = served.http.post("/durable_streams/victim%0A/reset", json={"position": 0})
    assert reset.status_code in (404, 422), reset.text
    with served.http.stream("GET", "/streams/durable/victim%0A") as response:
        assert response.status_code in (200, 422)
    info = served.store.durable_stream("victim")
    assert info is not None and info.active is False


def test_a_name_that_is_not_utf8_is_refused_never_replaced(served: Served) -> None:
    _register(served, "\ufffd")  # what %ff used to become
    for method, path in (
        ("GET", "/durable_streams/%ff"),
        ("DELETE", "/durable_streams/%ff"),
        ("GET", "/durable_streams/a%C3"),
        ("GET", "/durable_streams/%ED%A0%80"),  # an encoded lone surrogate
        ("GET", "/streams/durable/%ff"),
    ):
        response = served.http.request(method, path)
        assert (response.status_code, response.json()["code"]) == (422, "invalid_input"), (method, path)
    reset = served.http.post("/durable_streams/%ff/reset", json={"position": 0})
    assert (reset.status_code, reset.json()["code"]) == (422, "invalid_input")
    assert served.store.durable_stream("\ufffd") is not None


def test_every_listed_name_is_reachable_with_raw_requests(served: Served) -> None:
    for name in AWKWARD:
        _register(served, name)
    listed = [info["name"] for info in served.http.get("/durable_streams").json()["durable_streams"]]
    assert sorted(listed) == sorted(AWKWARD)
    for name in listed:
        got = served.http.get(f"/durable_streams/{_quoted(name)}")
        assert (got.status_code, got.json()["name"]) == (200, name), name
        assert served.http.post(f"/durable_streams/{_quoted(name)}/reset", json={"position": 0}).status_code == 204
        with served.http.stream("GET", f"/streams/durable/{_quoted(name)}") as response:
            assert response.status_code == 200, name
            sse = SSE(response)  # keep it: dropping its line iterator closes the response
            stream_id = sse.next_of("ready")[1]["stream_id"]
            assert served.http.delete(f"/streams/{stream_id}").status_code == 204  # returns once released
        assert served.http.delete(f"/durable_streams/{_quoted(name)}").status_code == 204
    assert served.store.durable_streams() == []


@pytest.mark.parametrize("name", [".", ".."])
def test_dot_names_are_reachable_by_clients_that_keep_the_path_as_written(served: Served, name: str) -> None:
    # WHATWG URLs (browsers, Node's fetch) and httpx resolve "." and ".." segments away; http.client does not.
    _register(served, name)
    connection = http.client.HTTPConnection(served.server.host, served.server.port, timeout=10)
    try:
        connection.request("GET", f"/durable_streams/{name}")
        response = connection.getresponse()
        assert (response.status, response.read().count(b'"name"')) == (200, 1)
        connection.request("DELETE", f"/durable_streams/{name}")
        assert connection.getresponse().status == 204
    finally:
        connection.close()
    assert served.store.durable_stream(name) is None


def test_the_python_client_reaches_every_name(served: Served) -> None:
    names = [*AWKWARD, ".", ".."]
    with HTTPStore(served.url) as client:
        for name in names:
            with client.stream_all_durable(name, lambda batch: None, start="end"):
                pass
        assert sorted(info.name for info in client.durable_streams()) == sorted(names)
        for name in names:
            info = client.durable_stream(name)
            assert info is not None and info.name == name
            client.reset_durable_stream(name, 0)
            client.delete_durable_stream(name)
            assert client.durable_stream(name) is None
        assert served.store.durable_streams() == []


def test_the_python_client_never_turns_one_name_into_another(served: Served) -> None:
    _register(served, "victim")
    with HTTPStore(served.url) as client:
        with contextlib.suppress(InvalidInput):  # the character rule refuses control characters in names
            client.delete_durable_stream("victim\n")
        assert client.durable_stream("victim") is not None
