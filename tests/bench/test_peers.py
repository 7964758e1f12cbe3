"""The side-by-side harness (``python -m bench --peers ...``): it runs, checks what came back, and says when a
peer is missing.

The peers are an optional extra (``pip install -e '.[bench]'``, which ``make bench-peers`` does), so the test
that runs them skips with the reason when they are not installed; everything else runs without them: the
interleaved rounds, the tables, B10 through ``factstr serve``, and a system that returns wrong data failing
its cells loudly.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench.interleave import Cell, Participant, Row, SideRun, run_group
from bench.model import Settings
from bench.peers import availability
from bench.side import Lineup, b5_group
from bench.side_ops import fill_log
from bench.side_report import Table, ratio, render, render_all
from bench.systems import FactstrSystem
from bench.targets import MemoryTarget, Opened

from factstr import MemoryStore, QueryResult
from factstr._validation import PreparedQuery

from .test_smoke import _postgres_skip_reason

ROOT = Path(__file__).resolve().parents[2]
SIDE_ROWS = ["fill", "B1", "B2", "B7 local p50", "B5 p50 N", "B6", "B3 small", "B3 N", "B4 threads", "B4c threads"]
TIMEOUT = 600


def _run(tmp_path: Path, *arguments: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    json_path = tmp_path / "side.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--quiet", *arguments, "--json", str(json_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    document: dict[str, object] = json.loads(json_path.read_text()) if json_path.exists() else {}
    return completed, document


def _cells(document: dict[str, object]) -> dict[tuple[str, str], dict[str, object]]:
    side = document["side"]
    assert isinstance(side, dict)
    return {(cell["row"], cell["column"]): cell for cell in side["cells"]}


def _peers_missing() -> str | None:
    missing = {name: reason for name, reason in availability().items() if reason is not None}
    return "; ".join(f"{name}: {reason}" for name, reason in missing.items()) or None


def test_every_scenario_of_every_installed_peer_runs_at_tiny_sizes(tmp_path: Path) -> None:
    if (reason := _peers_missing()) is not None:
        pytest.skip(f"the bench extra is not installed ({reason})")
    stores = "memory,sqlite" if _postgres_skip_reason() is not None else "memory,sqlite,postgres"
    completed, document = _run(tmp_path, "--peers", "umadb,eventsourcing", "--stores", stores)
    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-5000:]
    cells = _cells(document)
    for column in ("UmaDB", "eventsourcing (PG)", "FACTSTR sqlite"):
        for row in [*SIDE_ROWS, "B7 remote p50", "B4 processes", "B4c processes"]:
            cell = cells[(row, column)]
            assert cell["status"] == "ok" and cell["samples"], (row, column, cell)
    for row in ("B10 sqlite append", "B10 sqlite decide p50", "B10 sqlite head p99", "B10 sqlite overhead head p50"):
        assert cells[(row, "FACTSTR sqlite HTTP (Python)")]["status"] == "ok"
        assert cells[(row, "FACTSTR sqlite HTTP (Node)")]["status"] == "ok"
    assert cells[("B10 sqlite head p50", "UmaDB (gRPC)")]["status"] == "ok"
    assert "### FACTSTR sqlite vs the peers" in completed.stdout
    assert "| B1 append 1 event " in completed.stdout and "FACTSTR / best peer" in completed.stdout


def test_side_by_side_runs_without_peers_and_through_the_http_server(tmp_path: Path) -> None:
    completed, document = _run(tmp_path, "--peers", "none", "--stores", "memory,sqlite", "--no-node")
    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-5000:]
    cells = _cells(document)
    for column in ("FACTSTR memory", "FACTSTR sqlite"):
        for row in SIDE_ROWS:
            assert cells[(row, column)]["status"] == "ok", (row, column, cells[(row, column)])
    assert cells[("B4 processes", "FACTSTR memory")]["status"] == "n/a"
    assert cells[("B4 processes", "FACTSTR sqlite")]["status"] == "ok"
    assert cells[("B1", "raw sqlite3")]["status"] == "ok"
    for row in ("B10 sqlite append", "B10 sqlite decide", "B10 sqlite head p50", "B10 sqlite overhead append p50"):
        assert cells[(row, "FACTSTR sqlite HTTP (Python)")]["status"] == "ok", row
    assert cells[("B10 sqlite append", "FACTSTR sqlite HTTP (Node)")]["status"] == "n/a"
    assert "B10 network path: FACTSTR sqlite" in completed.stdout


def test_a_peer_that_is_not_installed_is_reported_as_skipped(tmp_path: Path) -> None:
    json_path = tmp_path / "side.json"
    script = (
        "import bench.peers as p\n"
        "p.availability = lambda: {name: 'not installed (test)' for name in p.PEER_NAMES}\n"
        "from bench.cli import main\n"
        "raise SystemExit(main(['--quick', '--quiet', '--peers', 'umadb,eventsourcing', '--stores', 'memory',\n"
        f"    '--scenarios', 'B1', '--json', {str(json_path)!r}]))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert completed.returncode == 0, completed.stderr
    assert "skipped: UmaDB: not installed (test)" in completed.stdout
    assert "skipped: eventsourcing (PG): not installed (test)" in completed.stdout
    line = next(line for line in completed.stdout.splitlines() if line.startswith("| B1 append 1 event"))
    assert line.count("skipped") == 2
    document = json.loads(json_path.read_text())
    assert document["skipped"] == {"UmaDB": "not installed (test)", "eventsourcing (PG)": "not installed (test)"}


def test_availability_names_the_extra_when_a_peer_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    status = availability()
    assert set(status) == {"umadb", "eventsourcing"}
    assert all(reason is not None and "not installed" in reason and ".[bench]" in reason for reason in status.values())


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


def test_a_system_returning_wrong_data_fails_its_cells_loudly() -> None:
    settings = Settings(
        events=1000, small=200, duration=0.05, repeat=2, writers=2, counter_limit=5,
        sqlite_durability="full", postgres_url="", quick=True,
    )  # fmt: skip
    lossy, honest = FactstrSystem(_LossyTarget()), FactstrSystem(MemoryTarget())
    honest.name = "FACTSTR honest"
    run = SideRun(quiet=True)
    lineup = Lineup(settings, [lossy, honest], [], run)
    try:
        for system in (lossy, honest):
            for size in lineup.sizes:
                log = system.open(f"history-{size}")
                fill_log(log, 0, size)
                lineup.histories[(system.name, size)] = log
        b5_group(lineup)
    finally:
        lossy.close()
        honest.close()
    lossy_cell = run.cells[("B5 p50 N", "FACTSTR memory")]
    assert lossy_cell.status == "FAILED" and "B5" in lossy_cell.note
    assert run.cells[("B5 p50 N", "FACTSTR honest")].status == "ok"
    assert run.failed


def test_rounds_rotate_the_order_and_a_broken_participant_stops_taking_part() -> None:
    order: list[str] = []

    def measure(name: str) -> dict[str, float]:
        order.append(name)
        if name == "c" and order.count("c") == 2:
            raise RuntimeError("broken on its second round")
        return {"row": float(len(order))}

    run = SideRun(quiet=True)
    participants = [Participant(name, functools.partial(measure, name)) for name in ("a", "b", "c")]
    run_group(run, "test", [Row("row", "a row", "ops/s")], participants, 4)
    # Round r starts r places further along; "c" broke in round 2 and is left out from then on.
    assert order == ["a", "b", "c", "b", "c", "a", "a", "b", "a", "b"]
    assert run.cells[("row", "a")].samples == [1.0, 6.0, 7.0, 9.0]
    assert run.cells[("row", "c")].status == "FAILED" and "broken" in run.cells[("row", "c")].note


def test_the_ratio_is_oriented_so_that_more_than_one_is_better() -> None:
    run = SideRun()
    rate, latency = Row("rate", "rate", "ops/s"), Row("lat", "latency", "ms", lower_is_better=True)
    run.add_rows([rate, latency])
    for key, values in {"rate": (300.0, 200.0, 100.0), "lat": (1.0, 2.0, 4.0)}.items():
        for column, number in zip(("F", "P1", "P2"), values, strict=True):
            run.cells[(key, column)] = Cell([number * 0.9, number, number * 1.1])
    assert ratio(run, rate, "F", ["P1", "P2"]) == pytest.approx(1.5)
    assert ratio(run, latency, "F", ["P1", "P2"]) == pytest.approx(2.0)
    text = render(run, Table("t", ["F"], ["P1", "P2"]), {})
    assert "| 300 (270-330) " in text and "1.50x" in text and "2.00x" in text and "yes" in text
    run.cells[("rate", "P1")] = Cell(status="FAILED", note="wrong data")
    assert "FAILED" in render_all(run, [Table("t", ["F"], ["P1", "P2"])], {})
