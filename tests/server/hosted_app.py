"""Apps for ``uvicorn --factory`` in test_hosting.py: the FACTSTR app served as is, and mounted in another app.

The store is the SQLite file named by ``FACTSTR_TEST_STORE``; it stays open for the life of the process.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from factstr import connect
from factstr.server import create_app


def _events() -> Starlette:
    store = connect(f"sqlite:///{os.environ['FACTSTR_TEST_STORE']}")
    return create_app(store, heartbeat_seconds=0.5, allowed_hosts=["*"])


def plain() -> Starlette:
    """The app as ``create_app`` returns it."""
    return _events()


def mounted() -> Starlette:
    """The app under ``/events`` of an application of its own, which knows nothing about streams."""

    async def home(request: object) -> PlainTextResponse:
        return PlainTextResponse("the host application")

    return Starlette(routes=[Route("/", home), Mount("/events", app=_events())])
