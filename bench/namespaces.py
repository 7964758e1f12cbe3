"""What a per-test store costs: creating and dropping an ephemeral namespace on a running server (issue 17).

``python -m bench.namespaces [--stores memory,sqlite,postgres] [--rounds N]`` starts ``factstr serve`` as a
child process for each store (a scratch SQLite file; a scratch PostgreSQL schema), then, over one kept-alive
HTTP connection as a test suite's client would use, repeats: ``POST /namespaces {"ephemeral": true}``, one
append into the new namespace (a test's first write), ``DELETE /namespaces/NAME``. It prints the median and
95th percentile of each step and of the whole round, in milliseconds. The server is a separate process, so the
figures include the HTTP round trips and nothing of this process's own work.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _request(connection: http.client.HTTPConnection, method: str, path: str, body: object = None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    connection.request(method, path, None if body is None else json.dumps(body), headers)
    response = connection.getresponse()
    return response.status, response.read()


def _wait_healthy(port: int, server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"factstr serve exited with {server.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            if _request(connection, "GET", "/healthz")[0] == 200:
                connection.close()
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("factstr serve did not become healthy")


def measure(store_url: str, rounds: int) -> dict[str, list[float]]:
    """Run ``rounds`` create-append-drop rounds against a fresh server of ``store_url``; times in ms."""
    port = _free_port()
    command = [sys.executable, "-m", "factstr", "serve", "--store", store_url, "--port", str(port)]
    command += ["--log-level", "warning"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times: dict[str, list[float]] = {"create": [], "append": [], "drop": [], "round": []}
    try:
        _wait_healthy(port, server)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for index in range(rounds + 1):  # the first round warms up (imports, the first file or schema)
            started = time.perf_counter()
            status, body = _request(connection, "POST", "/namespaces", {"ephemeral": True})
            assert status == 201, body
            name = json.loads(body)["name"]
            created = time.perf_counter()
            status, body = _request(
                connection, "POST", f"/ns/{name}/append", {"events": [{"event_type": "e", "payload": None}]}
            )
            assert status == 200, body
            appended = time.perf_counter()
            status, body = _request(connection, "DELETE", f"/namespaces/{name}")
            assert status == 204, body
            dropped = time.perf_counter()
            if index:
                times["create"].append((created - started) * 1000)
                times["append"].append((appended - created) * 1000)
                times["drop"].append((dropped - appended) * 1000)
                times["round"].append((dropped - started) * 1000)
        connection.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return times


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _drop_postgres_schemas(url: str, prefix: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", [prefix]).fetchall()
        for (schema,) in rows:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.namespaces", description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="memory,sqlite", help="comma-separated: memory, sqlite, postgres")
    parser.add_argument("--rounds", type=int, default=200, help="create-append-drop rounds per store")
    parser.add_argument("--postgres-url", default=os.environ.get("FACTSTR_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    args = parser.parse_args(argv)
    print(f"ephemeral namespace per test, {args.rounds} rounds; milliseconds, median / p95 (server: factstr serve)")
    print(f"{'store':<10} {'create':>15} {'first append':>15} {'drop':>15} {'round':>15}")
    for kind in [name.strip() for name in args.stores.split(",") if name.strip()]:
        with tempfile.TemporaryDirectory() as workdir:
            schema = f"bns_{uuid.uuid4().hex[:8]}"
            separator = "&" if "?" in args.postgres_url else "?"
            urls = {
                "memory": "memory://",
                "sqlite": f"sqlite:///{Path(workdir) / 'bench.db'}",
                "postgres": f"{args.postgres_url}{separator}schema={schema}",
            }
            if kind not in urls:
                raise SystemExit(f"unknown store {kind!r} (memory, sqlite, postgres)")
            try:
                times = measure(urls[kind], args.rounds)
            finally:
                if kind == "postgres":
                    _drop_postgres_schemas(args.postgres_url, schema)
        cells = [
            f"{statistics.median(times[step]):6.2f} / {_percentile(times[step], 0.95):6.2f}"
            for step in ("create", "append", "drop", "round")
        ]
        print(f"{kind:<10} " + " ".join(f"{cell:>15}" for cell in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
