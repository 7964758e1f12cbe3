"""The benchmark harness runs every scenario at tiny sizes on every store here, so that it cannot rot.

Figures are not checked (the machines are noisy): only that each scenario ran, checked its own results, and
reported them. A harness that accepted wrong data would be worse than none, so one test feeds it a store that
loses a record and expects a loud failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.data import fill
from bench.model import BenchFailure, Settings
from bench.reads import b5
from bench.session import Session
from bench.targets import DEFAULT_POSTGRES_URL, MemoryTarget, Opened

from factstr import MemoryStore, QueryResult
from factstr._validation import PreparedQuery

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ["B1", "B2", "B3", "B4", "B4c", "B5", "B6", "B7", "B8", "B9"]


def _postgres_skip_reason() -> str | None:
    """Why PostgreSQL cannot run here, or None (never if FACTSTR_REQUIRE_POSTGRES=1 and the store exists)."""
    if importlib.util.find_spec("factstr.postgres") is None:
        return "factstr.postgres is not importable"
    if os.environ.get("FACTSTR_REQUIRE_POSTGRES") == "1":
        return None
    import psycopg

    url = os.environ.get("FACTSTR_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {url} is not reachable: {exc}"
    try:
        importlib.import_module("factstr.postgres")
    except ImportError as exc:
        return f"factstr.postgres cannot be imported: {exc}"
    return None


STORES = ["memory", "sqlite", "postgres"]


@pytest.fixture(scope="module")
def quick_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[subprocess.Popen[str], Path]]]:
    """One ``python -m bench --quick`` per runnable store, all started at once (they mostly wait on disks)."""
    runs: dict[str, tuple[subprocess.Popen[str], Path]] = {}
    for store in STORES:
        if store == "postgres" and _postgres_skip_reason() is not None:
            continue
        json_path = tmp_path_factory.mktemp(f"bench-{store}") / "bench.json"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench",
                "--quick",
                "--quiet",
                "--stores",
                store,
                "--json",
                str(json_path),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        runs[store] = (process, json_path)
    yield runs
    for process, _ in runs.values():
        if process.poll() is None:
            process.terminate()  # the harness drops its scratch schemas on SIGTERM
            try:
                process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        process.communicate()


@pytest.mark.parametrize("store", STORES)
def test_every_scenario_runs_and_checks_its_results_at_tiny_sizes(
    store: str, quick_runs: dict[str, tuple[subprocess.Popen[str], Path]]
) -> None:
    if store == "postgres" and (reason := _postgres_skip_reason()) is not None:
        pytest.skip(reason)
    process, json_path = quick_runs[store]
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stdout + stderr
    document = json.loads(json_path.read_text())
    statuses = {row["scenario"]: row["status"] for row in document["results"]}
    assert sorted(statuses, key=SCENARIOS.index) == SCENARIOS
    expected_b9 = "ok" if store == "memory" else "n/a"
    assert statuses == {scenario: ("ok" if scenario != "B9" else expected_b9) for scenario in SCENARIOS}
    assert "| B1 " in stdout and "durability" in stdout


def test_a_store_named_explicitly_that_cannot_run_fails_the_run(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable, "-m", "bench", "--quick", "--quiet", "--stores", "postgres", "--scenarios", "B1",
            "--postgres-url", "postgresql://nobody@127.0.0.1:1/none", "--json", str(tmp_path / "bench.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert completed.returncode == 1
    assert "cannot" in completed.stderr


class _LossyMemoryStore(MemoryStore):
    """Drops the last record of every non-empty query result: a bug the harness must catch."""

    def _query(self, query: PreparedQuery) -> QueryResult:
        result = super()._query(query)
        return QueryResult(
            result.event_records[:-1], result.last_returned_sequence_number, result.current_context_version, result.head
        )


class _LossyTarget(MemoryTarget):
    def _open(self, label: str) -> Opened:
        return Opened(_LossyMemoryStore(), None)


def test_a_store_returning_wrong_data_fails_the_scenario_loudly() -> None:
    settings = Settings(
        events=1000, small=200, duration=0.05, repeat=1, writers=2, counter_limit=5,
        sqlite_durability="full", postgres_url="", quick=True,
    )  # fmt: skip
    target = _LossyTarget()
    try:
        with pytest.raises(BenchFailure, match="B5"):
            b5(Session(target, settings, quiet=True))
    finally:
        target.close()


def test_fill_appends_the_history_with_consecutive_numbers() -> None:
    with MemoryStore() as store:
        fill(store, 2500, "test", quiet=True)
        assert store.head() == 2500


def test_records_benchmark_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.records", "--count", "2000", "--repeat", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert "msgspec Struct" in completed.stdout


def test_idle_follower_benchmark_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.idle", "--seconds", "0.5", "--streams", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert "received the next append (received 2)" in completed.stdout


def test_namespace_benchmark_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.namespaces", "--stores", "memory,sqlite", "--rounds", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    rows = [line.split()[0] for line in completed.stdout.splitlines()[2:]]
    assert rows == ["memory", "sqlite"], completed.stdout
