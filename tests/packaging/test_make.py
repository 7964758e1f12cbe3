"""`make test` ends with one summary line over every suite; `make serve` takes PORT and STORE."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_run_suites() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_suites", ROOT / "tools" / "run_suites.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FAKE_MAKEFILE = """\
lint:
\t@echo "All checks passed!"
test-python:
\t@echo "..F"
\t@echo "1 failed, 2 passed, 1 skipped in 0.50s"
\t@exit 1
test-typescript:
\t@echo "# pass 3"
\t@echo "# fail 0"
"""


def run_suites(tmp_path: Path, *targets: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "Makefile").write_text(FAKE_MAKEFILE)
    env = None if path is None else {**os.environ, "PATH": path}
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "run_suites.py"), *targets],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_every_suite_runs_and_the_last_line_sums_them_up(tmp_path: Path) -> None:
    if load_run_suites()._typescript_skip_reason() is not None:
        pytest.skip("Node.js 20+ is not installed here: the skip itself is tested below")
    result = run_suites(tmp_path, "lint", "test-python", "test-typescript")
    assert result.returncode == 1  # one suite failed, and the exit status says so
    lines = result.stdout.splitlines()
    assert "All checks passed!" in lines and "# pass 3" in lines  # each suite's own output streams through
    summary = lines[-1]
    assert summary.startswith("make test summary: lint passed (")
    assert "python failed (1 failed, 2 passed, 1 skipped, " in summary
    assert "typescript passed (3 passed, 0 failed, " in summary
    assert summary.endswith("-- FAILED: python")


def test_a_suite_that_cannot_run_is_skipped_with_its_reason(tmp_path: Path) -> None:
    make_only = tmp_path / "bin"
    make_only.mkdir()
    make = subprocess.run(["which", "make"], capture_output=True, text=True).stdout.strip()
    (make_only / "make").symlink_to(make)
    result = run_suites(tmp_path, "lint", "test-typescript", path=str(make_only))
    assert result.returncode == 0
    summary = result.stdout.splitlines()[-1]
    assert "typescript skipped (Node.js and npm are not installed (Node 20+ is needed))" in summary
    assert summary.endswith("-- all suites that ran passed")


def test_make_test_runs_the_summary_over_lint_python_and_typescript() -> None:
    dry = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "test"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "tools/run_suites.py lint test-python test-typescript" in dry.stdout


def test_make_serve_takes_the_port_and_the_store() -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("PORT", "STORE", "MAKEFLAGS")}
    dry = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "serve", "PORT=8123", "STORE=postgresql://app@db/app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert "factstr serve --store 'postgresql://app@db/app' --port '8123'" in dry.stdout
    default = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "serve"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )
    assert "factstr serve --store 'sqlite:///factstr.db' --port '7117'" in default.stdout
