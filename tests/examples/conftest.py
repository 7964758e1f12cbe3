"""Each example test runs on a fresh Memory store and a fresh SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from factstr import EventStore
from factstr.testing import make_backend


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    chosen = make_backend(request.param, tmp_path)
    try:
        yield chosen.open()
    finally:
        chosen.cleanup()
