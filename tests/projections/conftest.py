"""Fixtures for the query-model tests: a fresh database of each kind that can keep query-model state."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from factstr.testing import Backend, make_backend

KINDS = ["memory", "sqlite", "postgres"]
_MODULES = {
    "memory": "factstr._memory",
    "sqlite": "factstr.testing._sqlite_backend",
    "postgres": "factstr.testing._postgres_backend",
}


@pytest.fixture(params=KINDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty database of each kind (PostgreSQL is skipped when unreachable)."""
    kind: str = request.param
    if importlib.util.find_spec(_MODULES[kind]) is None:
        pytest.skip(f"the {kind} store is not available in this checkout")
    chosen = make_backend(kind, tmp_path)
    try:
        yield chosen
    finally:
        chosen.cleanup()
