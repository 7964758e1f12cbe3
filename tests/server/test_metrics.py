"""Prometheus metrics and structured logs."""

from __future__ import annotations

import json
import logging
import time

import pytest

from factstr.server._logging import JSONFormatter

from .conftest import Served, append


def test_metrics_count_appends_conflicts_events_and_requests(served: Served) -> None:
    append(served, "a", "b")
    served.http.post(
        "/append_if",
        json={"events": [{"event_type": "c", "payload": 1}], "context_query": {}, "expected_context_version": None},
    )
    text = served.http.get("/metrics").text
    assert "factstr_appends_total 1\n" in text
    assert "factstr_events_appended_total 2\n" in text
    assert "factstr_append_conflicts_total 1\n" in text
    assert 'factstr_http_requests_total{route="/append",method="POST",status="200"} 1' in text
    assert 'factstr_http_request_duration_seconds_count{route="/append"} 1' in text
    assert "factstr_head 2\n" in text


def test_metrics_report_lag_per_durable_name(served: Served) -> None:
    append(served, "a")
    with served.store.stream_all_durable('odd "name"', lambda batch: None, start="end"):
        pass
    append(served, "b")
    text = served.http.get("/metrics").text
    assert 'factstr_durable_stream_lag{name="odd \\"name\\""} 1' in text
    assert 'factstr_durable_stream_active{name="odd \\"name\\""} 0' in text


def test_access_log_lines_are_json_with_request_fields(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="factstr.server.access"):
        served.http.get("/head")
        # The line is written once the response went out, so it may come just after the client has it.
        deadline = time.monotonic() + 10
        while not [r for r in caplog.records if r.name == "factstr.server.access"]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    (record,) = [r for r in caplog.records if r.name == "factstr.server.access"]
    line = json.loads(JSONFormatter().format(record))
    assert (line["level"], line["method"], line["path"], line["status"]) == ("info", "GET", "/head", 200)
    assert isinstance(line["duration_ms"], float) and line["time"].endswith("Z")
