"""Idempotent appends over HTTP (C9.4): the Idempotency-Key header, and the Python client's safe retries."""

from __future__ import annotations

from typing import Any

import pytest

from factstr import AppendOutcomeUnknown, EventQuery, NewEvent
from factstr.client import HTTPStore, _http11

from .conftest import Served

EVENTS = {"events": [{"event_type": "paid", "payload": {"order": 17}}]}


def test_a_known_idempotency_key_header_returns_the_original_result(served: Served) -> None:
    first = served.http.post("/append", json=EVENTS, headers={"Idempotency-Key": "order-17"})
    assert first.status_code == 200, first.text
    again = served.http.post("/append", json=EVENTS, headers={"Idempotency-Key": "order-17"})
    assert (again.status_code, again.json()) == (200, first.json())
    conditional = served.http.post(
        "/append_if",
        json={**EVENTS, "context_query": {}, "expected_context_version": None},
        headers={"Idempotency-Key": "order-17"},
    )
    assert (conditional.status_code, conditional.json()) == (200, first.json())
    assert served.store.head() == 1


def test_the_same_key_with_other_events_is_422(served: Served) -> None:
    served.http.post("/append", json=EVENTS, headers={"Idempotency-Key": "order-17"})
    other = {"events": [{"event_type": "paid", "payload": {"order": 18}}]}
    response = served.http.post("/append", json=other, headers={"Idempotency-Key": "order-17"})
    assert (response.status_code, response.json()["code"]) == (422, "invalid_input")
    assert served.store.head() == 1


@pytest.mark.parametrize("key", ["", "has space", "x" * 129, "semi;colon"])
def test_a_key_that_breaks_the_rule_is_422(served: Served, key: str) -> None:
    response = served.http.post("/append", json=EVENTS, headers={"Idempotency-Key": key})
    assert (response.status_code, response.json()["code"]) == (422, "invalid_input")
    assert "idempotency_key" in response.json()["message"]
    assert served.store.head() is None


class _LoseFirstAnswers:
    """Lets the server answer, reads the answer, then reports the connection lost instead (``count`` times)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.requests = 0
        self._real = _http11.Connection.receive

    def __call__(self, connection: _http11.Connection, method: str) -> Any:
        response = self._real(connection, method)  # the server committed and answered
        self.requests += 1
        if self.count > 0:
            self.count -= 1
            raise ConnectionResetError("connection lost before the answer arrived")
        return response

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def receive(connection: _http11.Connection, method: str) -> Any:
            return self(connection, method)

        monkeypatch.setattr(_http11.Connection, "receive", receive)


def test_the_client_retries_an_append_with_a_key_whose_answer_was_lost(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost = _LoseFirstAnswers(2)
    lost.install(monkeypatch)
    with HTTPStore(served.url) as client:
        result = client.append([NewEvent("paid", {"order": 17})], idempotency_key="order-17")
        assert lost.requests == 3, "two lost answers, then the retry's"
        assert (result.first_sequence_number, result.committed_count) == (1, 1)
        assert [record.event_type for record in client.query(EventQuery()).event_records] == ["paid"]


def test_the_client_does_not_retry_an_append_without_a_key(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    lost = _LoseFirstAnswers(1)
    lost.install(monkeypatch)
    with HTTPStore(served.url) as client:
        with pytest.raises(AppendOutcomeUnknown):
            client.append([NewEvent("paid", {"order": 17})])
        assert lost.requests == 1
        assert client.head() == 1


def test_the_client_reports_an_unknown_outcome_when_every_retry_is_lost(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("factstr.client._store.APPEND_RETRY_PAUSES", (0.01, 0.01))
    lost = _LoseFirstAnswers(10)
    lost.install(monkeypatch)
    with HTTPStore(served.url) as client:
        with pytest.raises(AppendOutcomeUnknown):
            client.append([NewEvent("paid", {"order": 17})], idempotency_key="order-17")
        assert lost.requests == 3
    assert served.store.head() == 1, "every attempt reached the server; the log holds the batch once"
