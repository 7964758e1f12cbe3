"""The pytest plugin of the conformance suite: the ``backend`` and ``store`` fixtures."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .._store import EventStore
from ._backends import Backend, backend_names, make_backend


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend_name" in metafunc.fixturenames:
        metafunc.parametrize("backend_name", backend_names())


@pytest.fixture
def backend(backend_name: str, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty database of the parametrised kind."""
    chosen = make_backend(backend_name, tmp_path)
    try:
        yield chosen
    finally:
        chosen.cleanup()


@pytest.fixture
def store(backend: Backend) -> EventStore:
    """A store on a fresh, empty database."""
    return backend.open()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # The namespace backends share one server per store kind for the whole run: stop them with it.
    shared = sys.modules.get("factstr.testing._http_backend")
    if shared is not None:
        shared.stop_shared_servers()
