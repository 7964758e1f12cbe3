"""Append -> SSE delivery to another process: how long a committed batch takes to reach a stream's handler.

A writer in this process appends to a SQLite file; ``factstr serve`` (another process) over the same file sees
the commit (its cross-process wake-up), and its event stream delivers the batch to an ``HTTPStore`` stream in
this process. Each sample is the time from the start of the append to the handler's call, appends spaced 2 ms
apart. Run: ``.venv/bin/python -m bench.sse_latency [--samples N]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from factstr import EventRecord, NewEvent, connect
from factstr.client import HTTPStore

from .procs import free_port, stop_process
from .stats import percentile


def measure(samples: int) -> list[float]:
    """Return ``samples`` append-to-delivery latencies in seconds (after a warm-up of 30)."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/latency.db"
        with connect(url) as store:
            store.append([NewEvent("warm", {})])
        port = free_port()
        command = [sys.executable, "-m", "factstr.cli", "serve", "--store", url, "--port", str(port)]
        server = subprocess.Popen([*command, "--log-level", "warning"], stderr=subprocess.DEVNULL)
        try:
            _wait_healthy(f"http://127.0.0.1:{port}/healthz")
            arrived = threading.Event()
            stamp = [0.0]

            def handler(batch: list[EventRecord]) -> None:
                stamp[0] = time.perf_counter()
                arrived.set()

            latencies: list[float] = []
            with (
                connect(url) as writer,
                HTTPStore(f"http://127.0.0.1:{port}") as client,
                client.stream_all(handler),
            ):
                for n in range(samples + 30):
                    arrived.clear()
                    started = time.perf_counter()
                    writer.append([NewEvent("measured", {"n": n})])
                    if not arrived.wait(10):
                        raise RuntimeError("a batch did not arrive within 10 s")
                    latencies.append(stamp[0] - started)
                    time.sleep(0.002)
            return latencies[30:]
        finally:
            stop_process(server)


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description="append -> SSE delivery to another process")
    parser.add_argument("--samples", type=int, default=300)
    latencies = measure(parser.parse_args().samples)
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    print(f"append -> SSE delivery to another process (SQLite): p50 {p50:.2f} ms, p99 {p99:.2f} ms")


if __name__ == "__main__":
    main()
