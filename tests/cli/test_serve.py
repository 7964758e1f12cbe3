"""``factstr serve`` as a real process: listens, serves, logs JSON lines, shuts down cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from factstr import NewEvent
from factstr.client import HTTPStore


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "factstr.cli", "serve", "--port", str(port), *extra],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _out, err = process.communicate()
            raise AssertionError(f"factstr serve did not start: {err}")
        time.sleep(0.05)


def test_serve_uses_a_sqlite_file_by_default_and_stops_on_sigterm(tmp_path: Path) -> None:
    process, url = start_server(tmp_path)
    try:
        with HTTPStore(url) as client:
            client.append([NewEvent("served", {"n": 1})])
            received: list[object] = []
            stream = client.stream_all(received.append)
            client.append([NewEvent("served", {"n": 2})])
            assert stream.wait_until(2, timeout=10)
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=20)
            assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert (tmp_path / "factstr.db").exists()
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line.get("path") == "/append" and line.get("status") == 200 for line in lines)
    assert any(line["message"] == "created a new store at sqlite:///factstr.db" for line in lines)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


def test_serve_reads_the_token_from_the_environment(tmp_path: Path) -> None:
    process, url = start_server(tmp_path, "--store", "memory://", env={"FACTSTR_TOKEN": "t0k"})
    try:
        assert httpx.post(url + "/query", json={}).status_code == 401
        with HTTPStore(url, token="t0k") as client:
            assert client.head() is None
    finally:
        process.terminate()
        process.communicate(timeout=20)


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "factstr.cli", "serve", "--host", "0.0.0.0", "--store", "memory://"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
        env={k: v for k, v in os.environ.items() if k != "FACTSTR_TOKEN"},
    )
    assert result.returncode != 0
    assert "without a token" in result.stderr
