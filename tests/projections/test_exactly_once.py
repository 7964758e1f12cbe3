"""Exactly-once across crashes: a continuous query model killed with SIGKILL counts every fact once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from factstr.projections import inspect
from factstr.testing import Backend

from .models import counted, expected

ROOT = Path(__file__).resolve().parents[2]
WORKER = [sys.executable, "-m", "tests.projections.crash_worker"]


def start_worker(url: str, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [*WORKER, url, *args],
            cwd=ROOT,
            stdout=output,
            stderr=output,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )


def kill_and_restart(backend: Backend, log: Path, thresholds: list[int], appended_while_running: int) -> None:
    """Kill a worker with SIGKILL once its model passed each threshold; append more while and after it ran."""
    if not backend.persistent or backend.url is None:
        pytest.skip("needs a database that outlives a process")
    store = backend.open()
    total = 0
    for _ in range(150):
        total += 1
        store.append([counted(total)])
    lagging_durable_cursor_seen = False
    for threshold in thresholds:
        worker = start_worker(backend.url, "forever", log=log)
        try:
            for _ in range(appended_while_running):
                total += 1
                store.append([counted(total)])
            deadline = time.monotonic() + 30
            while (info := inspect(store, "totals")) is None or (info.cursor or 0) < threshold:
                assert worker.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"the worker made no progress:\n{log.read_text()}"
                time.sleep(0.002)
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        stored = inspect(store, "totals")
        durable = store.durable_stream("totals")
        assert stored is not None and durable is not None
        # The durable cursor is stored after the state; a restart that trusted it would count facts twice.
        lagging_durable_cursor_seen |= (durable.cursor or 0) < (stored.cursor or 0)
        for _ in range(20):
            total += 1
            store.append([counted(total)])
    finisher = start_worker(backend.url, "until", str(total), log=log)
    assert finisher.wait(timeout=60) == 0, log.read_text()
    final = inspect(store, "totals")
    assert final is not None
    assert final.state == expected(range(1, total + 1))
    assert lagging_durable_cursor_seen


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_continuous_model_killed_between_batches_counts_each_fact_exactly_once(
    backend: Backend, tmp_path: Path
) -> None:
    kill_and_restart(backend, tmp_path / "worker.log", [20, 70, 130], appended_while_running=0)


@pytest.mark.long
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_continuous_model_killed_many_times_while_facts_arrive_counts_each_fact_exactly_once(
    backend: Backend, tmp_path: Path
) -> None:
    thresholds = list(range(10, 400, 25))
    kill_and_restart(backend, tmp_path / "worker.log", thresholds, appended_while_running=10)
