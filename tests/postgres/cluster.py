"""A PostgreSQL cluster of a test's own, for tests that stop and restart the server.

The shared test server must never be restarted, so these tests run ``initdb`` and ``pg_ctl`` on a free port
in a temporary directory, under an unprivileged user when the tests run as root (PostgreSQL refuses root),
and remove everything afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Without a unix socket in a directory of its own, pg_ctl would use /var/run/postgresql, shared with the
# test server; without fsync a test cluster starts and stops faster (its data is thrown away anyway).
_SERVER_OPTIONS = "-c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40 -c shared_buffers=16MB"
_UNPRIVILEGED_USER = "nobody"


def _bin_directory() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Cluster:
    """A running cluster on 127.0.0.1:``port`` with trust authentication for user ``postgres``."""

    def __init__(self, bin_directory: Path) -> None:
        self._bin = bin_directory
        self._user = _UNPRIVILEGED_USER if os.geteuid() == 0 else None
        self.directory = Path(tempfile.mkdtemp(prefix="factstr-cluster-"))
        if self._user is not None:
            record = pwd.getpwnam(self._user)
            os.chown(self.directory, record.pw_uid, record.pw_gid)
        self.data = self.directory / "data"
        self.port = _free_port()
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def url(self, **parameters: str) -> str:
        """A connection URL of the cluster's ``postgres`` database, with extra URL parameters."""
        query = "&".join(f"{key}={value}" for key, value in parameters.items())
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres" + (f"?{query}" if query else "")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._pg_ctl("start", "-l", str(self.directory / "log"))

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: end every session; ``immediate``: like a crash)."""
        self._pg_ctl("stop", "-m", mode)

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every session ends, and the server is back when this returns."""
        self._pg_ctl("restart", "-m", "fast", "-l", str(self.directory / "log"))

    def remove(self) -> None:
        """Stop the server if it runs and delete the cluster."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def _pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.directory} {_SERVER_OPTIONS}"
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-o", options, *args)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self._bin / program), *args]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.directory, timeout=120)


@contextlib.contextmanager
def own_cluster() -> Iterator[Cluster]:
    """A started cluster of the test's own, removed afterwards; the test is skipped without PostgreSQL binaries."""
    bin_directory = _bin_directory()
    if bin_directory is None:
        reason = "no PostgreSQL server binaries (initdb, pg_ctl) on this machine"
        if os.environ.get("FACTSTR_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    cluster = Cluster(bin_directory)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
