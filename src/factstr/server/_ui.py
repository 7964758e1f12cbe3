"""The web inspector's page: static files shipped in the package, served at ``/ui`` by the same app.

The files are plain HTML, CSS and JavaScript modules (no build step, no CDN: the page works offline). They
hold nothing secret, so they load without a token; everything the page shows comes from the API, which
asks for the token as for any client. ``/ui/config.json`` tells the page what this server allows it to do.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import threading

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .. import __version__
from ._problems import Problem, problem_response

UI_PREFIX = "/ui"
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# The page may talk only to this origin and run only its own files; no other site may frame it (a framed
# inspector started with --ui-admin could be clicked into resetting a cursor).
_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def is_ui_path(path: str) -> bool:
    """Return whether ``path`` is one of the inspector's static files (served without a token)."""
    return path == UI_PREFIX or path.startswith(UI_PREFIX + "/")


class _Asset(msgspec.Struct, frozen=True):
    body: bytes
    content_type: str
    etag: str


class _Assets:
    """The files of ``factstr/server/ui``, read once on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, _Asset] | None = None

    def get(self, name: str) -> _Asset | None:
        with self._lock:
            if self._files is None:
                self._files = self._load()
            return self._files.get(name)

    @staticmethod
    def _load() -> dict[str, _Asset]:
        files: dict[str, _Asset] = {}
        for entry in importlib.resources.files("factstr.server").joinpath("ui").iterdir():
            suffix = "." + entry.name.rpartition(".")[2]
            if not entry.is_file() or suffix not in _CONTENT_TYPES:
                continue
            body = entry.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            files[entry.name] = _Asset(body, _CONTENT_TYPES[suffix], etag)
        return files


_ASSETS = _Assets()


def ui_admin(request: Request) -> bool:
    """Return whether this app lets the inspector reset and delete durable cursors (``--ui-admin``)."""
    return bool(request.app.state.factstr_ui_admin)


async def redirect_to_page(request: Request) -> Response:
    return RedirectResponse(UI_PREFIX + "/", status_code=308)


async def config(request: Request) -> Response:
    body = msgspec.json.encode({"admin": ui_admin(request), "version": __version__})
    return Response(body, media_type="application/json", headers=_HEADERS)


async def asset(request: Request) -> Response:
    name = request.path_params.get("name") or "index.html"
    found = _ASSETS.get(name)
    if found is None:
        return problem_response(Problem(404, "not_found", f"no file {name!r} in the web inspector"))
    headers = {**_HEADERS, "etag": found.etag}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.content_type, headers=headers)


UI_ROUTES = [
    Route(UI_PREFIX, redirect_to_page, methods=["GET"]),
    Route(UI_PREFIX + "/config.json", config, methods=["GET"]),
    Route(UI_PREFIX + "/", asset, methods=["GET"]),
    Route(UI_PREFIX + "/{name}", asset, methods=["GET"]),
]
