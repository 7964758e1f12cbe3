"""factstr.testing: a third-party store registers a backend and runs the whole conformance suite on it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from factstr import EventStore, MemoryStore
from factstr.testing import Backend, _backends, backend_names, make_backend, register_backend


class WrappedMemory(Backend):
    name = "wrapped"

    def _open(self, **options: Any) -> EventStore:
        return MemoryStore(**options)


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_backends, "_registered", {})
    monkeypatch.delenv("FACTSTR_BACKENDS", raising=False)


def test_a_registered_backend_is_made_and_listed(tmp_path: Path) -> None:
    register_backend("wrapped", WrappedMemory)
    assert backend_names()[-1] == "wrapped"
    backend = make_backend("wrapped", tmp_path)
    assert isinstance(backend, WrappedMemory) and backend.workdir == tmp_path
    assert isinstance(backend.open(), MemoryStore)
    backend.cleanup()


def test_factstr_backends_selects_a_registered_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    register_backend("wrapped", WrappedMemory)
    monkeypatch.setenv("FACTSTR_BACKENDS", "wrapped")
    assert backend_names() == ["wrapped"]


def test_registration_refuses_what_cannot_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="built-in"):
        register_backend("sqlite", WrappedMemory)
    for name in ("", "a,b", " padded"):
        with pytest.raises(ValueError):
            register_backend(name, WrappedMemory)
    with pytest.raises(TypeError):
        register_backend("wrapped", "not callable")  # type: ignore[arg-type]
    register_backend("liar", lambda workdir: MemoryStore())  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match=r"not a factstr\.testing\.Backend"):
        make_backend("liar", tmp_path)
    with pytest.raises(ValueError, match="no backend named 'unknown'"):
        make_backend("unknown", tmp_path)


CONFTEST = """
from typing import Any

from factstr import EventStore, MemoryStore
from factstr.testing import Backend, register_backend

pytest_plugins = ["factstr.testing.plugin"]


class ThirdPartyBackend(Backend):
    name = "third-party"

    def _open(self, **options: Any) -> EventStore:
        return MemoryStore(**options)


register_backend("third-party", ThirdPartyBackend)
"""

SUITE = """
from factstr.testing.conformance import *  # noqa: F403
from factstr.testing.model_check import *  # noqa: F403
"""


def test_a_third_party_project_runs_the_whole_suite_on_its_backend(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_third_party.py").write_text(SUITE)
    env = {**os.environ, "FACTSTR_BACKENDS": "third-party"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    summary = result.stdout.strip().splitlines()[-1]
    # Every test ran on the registered backend (an unknown name would have failed each one).
    assert "failed" not in summary and "error" not in summary, summary
    assert int(summary.split(" passed")[0].split()[-1]) >= 100, summary


def test_the_suite_says_which_extra_it_needs_when_pytest_is_missing(tmp_path: Path) -> None:
    hide = "import sys; sys.modules['pytest'] = None; sys.modules['hypothesis'] = None; import factstr.testing"
    result = subprocess.run([sys.executable, "-c", hide], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "ImportError: factstr.testing needs pytest and hypothesis (pytest and hypothesis not installed): "
        "pip install 'factstr[testing]'"
    )
