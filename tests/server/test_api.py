"""The JSON routes: each is one call of the store contract, with the contract's field names."""

from __future__ import annotations

import re

from factstr import EventQuery

from .conftest import Served, append

OCCURRED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_append_returns_the_committed_range(served: Served) -> None:
    append(served, "a")
    assert append(served, "b", "c") == {"first_sequence_number": 2, "last_sequence_number": 3, "committed_count": 2}


def test_query_returns_records_with_contract_field_names(served: Served) -> None:
    served.http.post("/append", json={"events": [{"event_type": "opened", "payload": {"account": "a", "n": 1.5}}]})
    body = served.http.post("/query", json={}).json()
    assert body["last_returned_sequence_number"] == 1 and body["current_context_version"] == 1
    (record,) = body["event_records"]
    assert set(record) == {"sequence_number", "occurred_at", "event_type", "payload"}
    assert (record["sequence_number"], record["event_type"], record["payload"]) == (
        1,
        "opened",
        {"account": "a", "n": 1.5},
    )
    assert OCCURRED_AT.match(record["occurred_at"])


def test_occurred_at_is_the_store_value_to_the_microsecond(served: Served) -> None:
    append(served, "a")
    text = served.http.post("/query", json={}).json()["event_records"][0]["occurred_at"]
    stored = served.store.query(EventQuery()).event_records[0].occurred_at
    assert text == stored.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_query_filters_limit_and_backwards(served: Served) -> None:
    for event_type in ("a", "b", "a", "a"):
        append(served, event_type)
    body = served.http.post(
        "/query",
        json={"filters": [{"event_types": ["a"]}], "min_sequence_number": 1, "limit": 1, "backwards": True},
    ).json()
    assert [r["sequence_number"] for r in body["event_records"]] == [4]
    assert (body["last_returned_sequence_number"], body["current_context_version"]) == (4, 4)


def test_append_if_conflict_is_409_with_expected_and_actual(served: Served) -> None:
    append(served, "a")
    response = served.http.post(
        "/append_if",
        json={"events": [{"event_type": "b", "payload": 1}], "context_query": {}, "expected_context_version": None},
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    message = response.json()["detail"]
    assert response.json() == {
        "type": "urn:factstr:error:conditional_append_conflict",
        "title": "The context changed",
        "status": 409,
        "detail": message,
        "code": "conditional_append_conflict",
        "message": message,
        "expected": None,
        "actual": 1,
        "facts": [served.http.post("/query", json={}).json()["event_records"][0]],
        "truncated": False,
    }
    assert served.store.head() == 1


def test_append_if_commits_when_the_context_is_unchanged(served: Served) -> None:
    append(served, "a")
    response = served.http.post(
        "/append_if",
        json={
            "events": [{"event_type": "b", "payload": {}}],
            "context_query": {"filters": [{"event_types": ["a"]}]},
            "expected_context_version": 1,
        },
    )
    assert response.status_code == 200 and response.json()["first_sequence_number"] == 2


def test_head_is_null_for_an_empty_log(served: Served) -> None:
    assert served.http.get("/head").json() == {"head": None}
    append(served, "a")
    assert served.http.get("/head").json() == {"head": 1}


def test_durable_cursor_admin_round_trip(served: Served) -> None:
    append(served, "a")
    append(served, "b")
    with served.store.stream_all_durable("pro/jector", lambda batch: None) as stream:
        assert stream.wait_until(2, timeout=10)
    listed = served.http.get("/durable_streams").json()["durable_streams"]
    assert [info["name"] for info in listed] == ["pro/jector"]
    info = served.http.get("/durable_streams/pro%2Fjector").json()
    assert info == {
        "name": "pro/jector",
        "query": {
            "filters": None,
            "min_sequence_number": None,
            "limit": None,
            "backwards": False,
            "max_sequence_number": None,
        },
        "cursor": 2,
        "head": 2,
        "lag": 0,
        "active": False,
    }
    assert served.http.post("/durable_streams/pro%2Fjector/reset", json={"position": 1}).status_code == 204
    assert served.http.get("/durable_streams/pro%2Fjector").json()["lag"] == 1
    assert served.http.delete("/durable_streams/pro%2Fjector").status_code == 204
    missing = served.http.get("/durable_streams/pro%2Fjector")
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_durable_stream")


def test_reset_of_an_unknown_cursor_is_404(served: Served) -> None:
    response = served.http.post("/durable_streams/nobody/reset", json={"position": 0})
    assert (response.status_code, response.json()["code"]) == (404, "unknown_durable_stream")


def test_cursor_admin_on_an_active_name_is_409(served: Served) -> None:
    with served.store.stream_all_durable("busy", lambda batch: None):
        response = served.http.delete("/durable_streams/busy")
    assert (response.status_code, response.json()["code"]) == (409, "durable_stream_active")


def test_healthz_reports_the_head(served: Served) -> None:
    assert served.http.get("/healthz").json() == {"status": "ok", "head": None}


def test_healthz_is_503_when_the_store_fails(served: Served) -> None:
    served.store.close()
    response = served.http.get("/healthz")
    assert response.status_code == 503 and response.json()["code"] == "store_closed"
