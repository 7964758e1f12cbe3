"""Fixtures of the SQLite store tests: a database path, stores on it, and child processes that use it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from factstr.sqlite import SQLiteStore

CHILD_TIMEOUT_SECONDS = 60


@pytest.fixture
def database(tmp_path: Path) -> str:
    """The path of a database file that does not exist yet."""
    return str(tmp_path / "events.db")


@pytest.fixture
def store(database: str) -> Iterator[SQLiteStore]:
    """A store on a fresh file, closed after the test."""
    with SQLiteStore(database) as opened:
        yield opened


def child(code: str, *args: str, interactive: bool = False) -> subprocess.Popen[str]:
    """Start a Python child process running ``code`` (dedented) with ``args`` as ``sys.argv[1:]``.

    ``interactive`` gives it a stdin pipe, to tell it when to go on.
    """
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE if interactive else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    """Wait for a child, fail the test with its stderr if it failed, and return its stdout."""
    try:
        out, err = process.communicate(timeout=CHILD_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    assert process.returncode == 0, f"child failed with {process.returncode}:\n{err}"
    return out
