"""bench.limits runs end to end on a tiny history (the figures themselves come from real runs, not from tests)."""

from __future__ import annotations

import pytest

from bench import limits


def test_the_limits_benchmark_runs_and_its_queries_are_within_the_limits(capsys: pytest.CaptureFixture[str]) -> None:
    assert limits.main(["--events", "300", "--stores", "memory,sqlite", "--repeat", "1"]) == 0
    output = capsys.readouterr().out
    for shape in limits.queries():
        assert output.count(f"  {shape} ") == 2
