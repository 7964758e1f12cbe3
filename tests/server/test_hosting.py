"""Event streams end cleanly under any ASGI host: plain ``uvicorn module:app`` and mounted in another app.

SIGTERM makes the host shut down; every open stream gets its ``end`` message (reason ``shutdown``), durable
names are released, and the process exits instead of waiting for streams that never finish by themselves.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from factstr import connect

from ..cli.test_serve import free_port
from .conftest import SSE

ROOT = Path(__file__).resolve().parents[2]


def _host(factory: str, store: Path) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", f"tests.server.hosted_app:{factory}", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "FACTSTR_TEST_STORE": str(store)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(url + "/", timeout=1)
            return process, url
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"uvicorn did not start: {process.communicate()[1]}") from None
            time.sleep(0.05)


@pytest.mark.parametrize(("factory", "prefix"), [("plain", ""), ("mounted", "/events")])
def test_sigterm_ends_open_streams_with_end_and_the_host_exits(factory: str, prefix: str, tmp_path: Path) -> None:
    store_path = tmp_path / "hosted.db"
    process, url = _host(factory, store_path)
    ended: list[Any] = []
    ready = threading.Semaphore(0)

    def follow(path: str) -> None:
        with httpx.Client(timeout=20) as client, client.stream("GET", url + prefix + path) as response:
            sse = SSE(response)
            sse.next_of("ready")
            ready.release()
            ended.append(sse.next_of("end")[1])

    threads = [threading.Thread(target=follow, args=(p,)) for p in ("/streams/live", "/streams/durable/hosted")]
    try:
        for thread in threads:
            thread.start()
        for _ in threads:
            assert ready.acquire(timeout=10)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(10)
        process.communicate(timeout=10)
        assert ended == [{"reason": "shutdown"}, {"reason": "shutdown"}]
        assert time.monotonic() - started < 8, "the host waited for the streams instead of ending them"
        # Uvicorn raises the signal again once it shut down, so a clean exit is the signal's own.
        assert process.returncode in (0, -signal.SIGTERM), process.returncode
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    with connect(f"sqlite:///{store_path}") as store:
        info = store.durable_stream("hosted")
        assert info is not None and info.active is False
