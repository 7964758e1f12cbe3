"""Numbers at and beyond 2**63 over HTTP: 422 invalid_input wherever they come from, never a 500 or a 503."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import SSE, Served, append

TOO_LARGE = str(2**63)
THOUSANDS_OF_DIGITS = "9" * 5000

BODIES: list[tuple[str, str, dict[str, Any]]] = [
    ("query-limit", "/query", {"limit": 2**63}),
    ("query-min-sequence-number", "/query", {"min_sequence_number": 2**63}),
    (
        "expected-context-version",
        "/append_if",
        {"events": [{"event_type": "a", "payload": 1}], "context_query": {}, "expected_context_version": 2**63},
    ),
    ("reset-position", "/durable_streams/r/reset", {"position": 2**63}),
]


@pytest.mark.parametrize(("label", "path", "body"), BODIES, ids=[label for label, _, _ in BODIES])
def test_numbers_beyond_the_largest_sequence_number_in_a_body_are_invalid_input(
    served: Served, label: str, path: str, body: dict[str, Any]
) -> None:
    with served.store.stream_all_durable("r", lambda batch: None):
        pass
    response = served.http.post(path, json=body)
    assert (response.status_code, response.json()["code"]) == (422, "invalid_input"), response.text
    assert "2**63 - 1" in response.json()["message"]
    assert served.store.head() is None


@pytest.mark.parametrize("digits", [TOO_LARGE, THOUSANDS_OF_DIGITS], ids=["2**63", "5000-digits"])
@pytest.mark.parametrize("path", ["/streams/live", "/streams/durable/n"])
def test_a_start_beyond_the_largest_sequence_number_is_invalid_input(served: Served, path: str, digits: str) -> None:
    response = served.http.get(f"{path}?start={digits}")
    assert (response.status_code, response.json()["code"]) == (422, "invalid_input"), response.text
    assert served.store.durable_stream("n") is None


@pytest.mark.parametrize("digits", [TOO_LARGE, THOUSANDS_OF_DIGITS], ids=["2**63", "5000-digits"])
def test_a_last_event_id_beyond_the_largest_sequence_number_is_invalid_input(served: Served, digits: str) -> None:
    response = served.http.get("/streams/live", headers={"Last-Event-ID": digits})
    assert (response.status_code, response.json()["code"]) == (422, "invalid_input"), response.text


def test_the_largest_sequence_number_and_leading_zeros_are_accepted(served: Served) -> None:
    append(served, "a")
    with served.http.stream("GET", f"/streams/live?start={2**63 - 1}") as response:
        assert response.status_code == 200
        assert SSE(response).next_of("ready")[1]["position"] == 2**63 - 1
    with served.http.stream("GET", "/streams/live", headers={"Last-Event-ID": "0" * 5000}) as response:
        sse = SSE(response)
        assert sse.next_of("ready")[1]["position"] == 0
        assert [record["sequence_number"] for record in sse.next_of("message")[1]] == [1]
