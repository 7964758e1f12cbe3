"""Running harness jobs in subprocesses (``python -m bench.worker``): other writers, other appenders, RSS.

A job is a JSON object on the command line; the worker prints ``ready`` once it is set up, and, for
synchronised jobs, waits for a start time (``time.time()``) on stdin so that every process starts together
and process start-up is never measured. Its last stdout line is the JSON result.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .model import BenchFailure

PROJECT_ROOT = Path(__file__).resolve().parent.parent
JOB_TIMEOUT = 300.0

Job = dict[str, Any]


class Worker:
    """One running job."""

    def __init__(self, job: Job) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        self.job = job
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.worker", json.dumps(job)],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self) -> None:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if line.strip() != "ready":
            self._fail(f"did not get ready (said {line.strip()!r})")

    def start(self, start_at: float) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(f"{start_at!r}\n")
        self._process.stdin.flush()

    def result(self) -> dict[str, Any]:
        try:
            out, err = self._process.communicate(timeout=JOB_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            out, err = self._process.communicate()
            raise BenchFailure(
                f"worker {self.job['kind']} timed out after {JOB_TIMEOUT:.0f} s: {err[-2000:]}"
            ) from None
        if self._process.returncode != 0:
            last = err.strip().splitlines()[-1] if err.strip() else "no output"
            raise BenchFailure(
                f"worker {self.job['kind']} failed (exit {self._process.returncode}): {last}\n{err[-3000:]}"
            )
        lines = out.strip().splitlines()
        if not lines:
            raise BenchFailure(f"worker {self.job['kind']} printed no result: {err[-2000:]}")
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    def _fail(self, why: str) -> None:
        self._process.kill()
        _, err = self._process.communicate()
        raise BenchFailure(f"worker {self.job['kind']} {why}: {err[-3000:]}")

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.communicate()


def run_together(jobs: list[Job], *, lead_seconds: float = 0.1) -> tuple[float, list[dict[str, Any]]]:
    """Start every job, wait until all are ready, start them at one moment; return it and their results."""
    workers = [Worker(job) for job in jobs]
    try:
        for worker in workers:
            worker.wait_ready()
        start_at = time.time() + lead_seconds
        for worker in workers:
            worker.start(start_at)
        return start_at, [worker.result() for worker in workers]
    finally:
        for worker in workers:
            worker.kill()


def run_job(job: Job) -> dict[str, Any]:
    """Run one unsynchronised job to its end and return its result."""
    worker = Worker(job)
    try:
        worker.wait_ready()
        return worker.result()
    finally:
        worker.kill()


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Stop a server the harness started, by its PID: SIGTERM (graceful), SIGKILL after ``grace`` seconds."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
