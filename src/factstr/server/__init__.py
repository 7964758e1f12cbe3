"""The FACTSTR HTTP server: the store contract as JSON over HTTP, streams as server-sent events.

``create_app(store)`` returns a Starlette (ASGI) app; ``ServerThread`` serves it on a background thread;
``factstr serve`` runs it in the foreground. The API is described by ``openapi_document()``
(``/openapi.json``) and in docs/server.md. Needs the ``server`` extra (Starlette, uvicorn).
"""

from ._app import Settings, create_app
from ._openapi import openapi_document
from ._runner import Server, ServerThread, make_server

__all__ = ["Server", "ServerThread", "Settings", "create_app", "make_server", "openapi_document"]
