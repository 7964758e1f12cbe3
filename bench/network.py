"""B10, the network path: B1, B3 and a ``head()`` round trip through ``factstr serve``, next to UmaDB via gRPC.

For each FACTSTR store that can be served (SQLite, PostgreSQL) the harness starts ``factstr serve`` on a free
loopback port over that store's 10k history (the database the other scenarios used), and measures, in
interleaved rounds:

- **in-process**: the store itself (the reference the overhead is computed from);
- **HTTP (Python)**: ``factstr.client.HTTPStore``;
- **HTTP (Node)**: the TypeScript client ``@factstr/client`` from ``clients/typescript/dist``, driven by
  ``bench/node_client.mjs`` (built with npm first when the build is missing or older than its sources);
- **UmaDB (gRPC)**: UmaDB's Python client on UmaDB's own 10k history.

Every request is timed on its own. The per-request overhead is the HTTP p50 (p99) minus the in-process p50
(p99) of the same operation in the same round.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .data import DECIDED, TYPES, latency_event
from .interleave import Participant, Row, run_group
from .model import BenchFailure, check
from .procs import PROJECT_ROOT, free_port, stop_process
from .side import Lineup
from .side_ops import decide
from .stats import percentile, warm_up
from .systems import FactstrLog, FactstrSystem, Log, System
from .writes import decision_accounts

SERVED = ("sqlite", "postgres")
CLIENT_DIR = PROJECT_ROOT / "clients" / "typescript"
CLIENT_ENTRY = CLIENT_DIR / "dist" / "src" / "index.js"
NODE_SCRIPT = Path(__file__).resolve().parent / "node_client.mjs"
SERVER_START_SECONDS = 30.0
OPS = ("append", "decide", "head")
QUIET = ("--log-level", "warning")  # no log line per request: the server's logging is not what is measured


def b10(lineup: Lineup, factstr_systems: list[FactstrSystem], peer_systems: list[System], *, node: bool) -> None:
    """Run B10 for every served store; its rows carry the store's name, its columns the access path."""
    run = lineup.run
    node_command, node_reason = node_client() if node else (None, "not run (--no-node)")
    uma = next((peer for peer in peer_systems if peer.key == "umadb"), None)
    for system in factstr_systems:
        if system.key not in SERVED:
            continue
        columns = paths(system.key)
        rows = b10_rows(system.key, lineup.settings.small)
        run.add_rows(rows)
        for column in columns.values():
            if column not in run.columns:
                run.columns.append(column)
        if system.key == "sqlite" and lineup.settings.sqlite_durability != "full":
            run.notes.append("B10 sqlite: not run, `factstr serve` opens SQLite with durability='full' only")
            for column in columns.values():
                run.mark(rows, column, "n/a", "")
            continue
        run.say(f"[side] B10 {system.key} ...")
        try:
            history = lineup.history(system, lineup.settings.small)
            if history.spec is None:
                raise BenchFailure(f"{system.name}: its history cannot be opened by a server")
            server = Server(str(history.spec["url"]))
        except Exception as exc:
            for column in columns.values():
                run.mark(rows, column, "FAILED", f"B10 set-up: {exc}")
            continue
        try:
            participants = [
                _log_participant(lineup, columns["in-process"], history, system.key),
                _log_participant(lineup, columns["python"], _http_log(server.url), system.key, closes=True),
            ]
            if node_command is None:
                run.mark(rows, columns["node"], "n/a", node_reason)
                run.notes.append(f"B10 {system.key}: the Node column is empty: {node_reason}")
            else:
                participants.append(_node_participant(lineup, columns["node"], server.url, node_command, system.key))
            if uma is None:
                run.mark(rows, columns["umadb"], "n/a", "")
            else:
                participants.append(
                    _log_participant(lineup, columns["umadb"], lineup.history(uma, lineup.settings.small), system.key)
                )
            run_group(run, f"B10 {system.key}", rows, participants, lineup.settings.repeat)
        finally:
            server.stop()
        _overheads(lineup, system.key, columns)


def paths(store: str) -> dict[str, str]:
    """The B10 columns of one store."""
    return {
        "in-process": f"FACTSTR {store} in-process",
        "python": f"FACTSTR {store} HTTP (Python)",
        "node": f"FACTSTR {store} HTTP (Node)",
        "umadb": "UmaDB (gRPC)",
    }


def b10_rows(store: str, small: int) -> list[Row]:
    size = f"{small // 1000}k" if small % 1000 == 0 else f"{small:,}"
    rows = [
        Row(f"B10 {store} append", "B10 append 1 event", "events/s"),
        Row(f"B10 {store} append p50", "B10 append 1 event, p50", "ms", lower_is_better=True),
        Row(f"B10 {store} append p99", "B10 append 1 event, p99", "ms", lower_is_better=True),
        Row(f"B10 {store} decide", f"B10 B3 read-decide-append @{size}", "ops/s"),
        Row(f"B10 {store} decide p50", f"B10 B3 read-decide-append @{size}, p50", "ms", lower_is_better=True),
        Row(f"B10 {store} decide p99", f"B10 B3 read-decide-append @{size}, p99", "ms", lower_is_better=True),
        Row(f"B10 {store} head p50", "B10 head() round trip, p50", "ms", lower_is_better=True),
        Row(f"B10 {store} head p99", "B10 head() round trip, p99", "ms", lower_is_better=True),
    ]
    for op, what in (("append", "append"), ("decide", "B3 op (2 requests)"), ("head", "head()")):
        for q in ("p50", "p99"):
            rows.append(
                Row(
                    f"B10 {store} overhead {op} {q}",
                    f"B10 overhead per {what}, {q} (HTTP - in-process)",
                    "ms",
                    lower_is_better=True,
                    compared=False,
                )
            )
    return rows


class Server:
    """``factstr serve`` on a free loopback port, stopped by its PID."""

    def __init__(self, store_url: str) -> None:
        command = Path(sys.executable).parent / "factstr"
        prefix = [str(command)] if command.exists() else [sys.executable, "-m", "factstr.cli"]
        self.process: subprocess.Popen[bytes] | None = None
        self._output = b""
        for _ in range(5):
            port = free_port()
            process = subprocess.Popen(
                [*prefix, "serve", "--store", store_url, "--host", "127.0.0.1", "--port", str(port), *QUIET],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            self.url = f"http://127.0.0.1:{port}"
            if self._healthy(process):
                self.process = process
                return
            stop_process(process)
            assert process.stderr is not None
            self._output = process.stderr.read()[-3000:]
        raise BenchFailure(f"factstr serve did not start: {self._output.decode(errors='replace')}")

    def _healthy(self, process: subprocess.Popen[bytes]) -> bool:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            if self.process.stderr is not None:
                self.process.stderr.close()
            self.process = None


def _http_log(url: str) -> Log:
    from factstr.client import HTTPStore

    return FactstrLog(HTTPStore(url), None)


def _timed(seconds: float, operation: Callable[[], object]) -> tuple[list[float], float]:
    """Call ``operation`` for ``seconds`` (at least 5 times); its latencies in ms and the time taken."""
    latencies: list[float] = []
    clock = time.perf_counter
    started = clock()
    deadline = started + seconds
    while True:
        before = clock()
        operation()
        after = clock()
        latencies.append((after - before) * 1e3)
        if after >= deadline and len(latencies) >= 5:
            return latencies, after - started


def _values(store: str, op: str, latencies: list[float], seconds: float) -> dict[str, float]:
    values = {f"B10 {store} {op} p50": percentile(latencies, 50), f"B10 {store} {op} p99": percentile(latencies, 99)}
    if op != "head":
        values[f"B10 {store} {op}"] = len(latencies) / seconds
    return values


def _log_participant(lineup: Lineup, column: str, log: Log, store: str, *, closes: bool = False) -> Participant:
    """In-process, Python HTTP or UmaDB: the same three operations on a :class:`Log`."""
    settings = lineup.settings
    accounts = decision_accounts(settings.small, settings.small)
    state = {"decided": 0, "sent": 0}

    def append_batch() -> Callable[[], object]:
        expected = [log.head() + 1]

        def append() -> None:
            last = log.append([latency_event(time.time(), state["sent"])])
            check(last == expected[0], f"B10 {column}: append got position {last}, expected {expected[0]}")
            state["sent"] += 1
            expected[0] += 1

        return append

    def one_decision() -> None:
        account = accounts[state["decided"] % len(accounts)]
        state["decided"] += 1
        check(decide(log, account, 0), f"B10 {column}: a conflict with one writer")

    def head() -> None:
        check(log.head() > 0, f"B10 {column}: head() of a filled log returned nothing")

    warm_up(settings.warm_up_seconds, append_batch())
    warm_up(settings.warm_up_seconds, one_decision)
    warm_up(settings.warm_up_seconds, head)

    def measure() -> dict[str, float]:
        values: dict[str, float] = {}
        values.update(_values(store, "append", *_timed(settings.duration, append_batch())))
        values.update(_values(store, "decide", *_timed(settings.duration, one_decision)))
        values.update(_values(store, "head", *_timed(settings.duration, head)))
        return values

    return Participant(column, measure, None, log.close if closes else None)


def _node_participant(lineup: Lineup, column: str, url: str, node: str, store: str) -> Participant:
    settings = lineup.settings
    accounts = decision_accounts(settings.small, settings.small)

    def run(op: str) -> tuple[list[float], float]:
        job = {
            "client": str(CLIENT_ENTRY),
            "url": url,
            "op": op,
            "duration": settings.duration,
            "warmUp": settings.warm_up_seconds,
            "accounts": accounts,
            "types": [*TYPES, DECIDED],
            "decided": DECIDED,
            "writer": 0,
        }
        completed = subprocess.run(
            [node, str(NODE_SCRIPT), json.dumps(job)],
            capture_output=True,
            text=True,
            timeout=120 + 4 * settings.duration,
            cwd=PROJECT_ROOT,
        )
        if completed.returncode != 0:
            why = completed.stderr.strip()[-2000:] or f"exit status {completed.returncode}"
            raise BenchFailure(f"B10 {column} {op}: {why}")
        result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
        return [float(v) for v in result["latencies_ms"]], float(result["seconds"])

    def measure() -> dict[str, float]:
        values: dict[str, float] = {}
        for op in OPS:
            values.update(_values(store, op, *run(op)))
        return values

    return Participant(column, measure)


def _overheads(lineup: Lineup, store: str, columns: dict[str, str]) -> None:
    """HTTP minus in-process, per operation and percentile, round by round (same round, same machine state)."""
    run = lineup.run
    for client in ("python", "node"):
        for op in OPS:
            for q in ("p50", "p99"):
                source = f"B10 {store} {op} {q}"
                local = run.cells.get((source, columns["in-process"]))
                remote = run.cells.get((source, columns[client]))
                target = run.cell(f"B10 {store} overhead {op} {q}", columns[client])
                if local is None or remote is None or local.status != "ok" or remote.status != "ok":
                    # The failure, if any, is reported in the cells it comes from.
                    target.status, target.note = "n/a", "needs both the in-process and the HTTP figure"
                    continue
                target.samples = [r - i for r, i in zip(remote.samples, local.samples, strict=False)]


def node_client() -> tuple[str | None, str]:
    """The ``node`` command with the TypeScript client built, or None and why not."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        return None, "node/npm not found"
    sources = [path.stat().st_mtime for path in (CLIENT_DIR / "src").rglob("*.ts")]
    if CLIENT_ENTRY.exists() and sources and CLIENT_ENTRY.stat().st_mtime >= max(sources):
        return node, ""
    steps = []
    if not (CLIENT_DIR / "node_modules").exists():
        steps.append([npm, "ci", "--no-audit", "--no-fund"])
    steps.append([npm, "run", "build"])
    for step in steps:
        print(f"  building the TypeScript client: {' '.join(step[1:])}", file=sys.stderr)
        completed = subprocess.run(step, cwd=CLIENT_DIR, capture_output=True, text=True, timeout=600)
        if completed.returncode != 0:
            return None, f"`npm {' '.join(step[1:])}` failed: {completed.stderr.strip()[-500:]}"
    if not CLIENT_ENTRY.exists():
        return None, f"the build did not produce {CLIENT_ENTRY}"
    return node, ""
