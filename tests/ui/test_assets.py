"""The inspector's files: shipped in the package, served at /ui without a token, under a strict policy."""

from __future__ import annotations

import fnmatch
import importlib.resources
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from factstr import MemoryStore
from factstr.server import ServerThread, create_app, openapi_document
from factstr.server._stats import STATS_ROUTES

ROOT = Path(__file__).resolve().parents[2]
UI = importlib.resources.files("factstr.server").joinpath("ui")


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with MemoryStore() as store, ServerThread(create_app(store, token="secret")) as running:
        yield running


def _ui_files() -> list[str]:
    return sorted(entry.name for entry in UI.iterdir() if entry.is_file())


def test_every_file_the_page_loads_is_in_the_package_and_declared_as_package_data() -> None:
    files = set(_ui_files())
    index = UI.joinpath("index.html").read_text()
    wanted = set(re.findall(r'(?:src|href)="([\w.-]+\.(?:js|css|svg))"', index))
    for name in sorted(files):
        if name.endswith(".js"):
            wanted |= set(re.findall(r'from "\./([\w.-]+\.js)"', UI.joinpath(name).read_text()))
    assert {"app.js", "style.css"} <= wanted
    assert wanted <= files, f"missing: {wanted - files}"
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["factstr"]
    for name in files:
        assert any(fnmatch.fnmatch(f"server/ui/{name}", pattern) for pattern in patterns), name


def test_the_page_loads_nothing_from_another_origin() -> None:
    for name in _ui_files():
        text = UI.joinpath(name).read_text()
        assert not re.search(r"(?:src|href)=\"(?:https?:)?//", text), name
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", ""), name
        assert "https://" not in text, name


def test_the_page_needs_no_token_but_the_data_does(server: ServerThread) -> None:
    page = httpx.get(server.url + "/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="app.js">' in page.text
    script = httpx.get(server.url + "/ui/app.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert httpx.get(server.url + "/head").status_code == 401
    assert httpx.get(server.url + "/stats").status_code == 401
    redirect = httpx.get(server.url + "/ui")
    assert (redirect.status_code, redirect.headers["location"]) == (308, "/ui/")


def test_the_page_runs_only_its_own_code_and_cannot_be_framed(server: ServerThread) -> None:
    headers = httpx.get(server.url + "/ui/").headers
    policy = headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"


def test_an_unchanged_file_is_not_sent_again(server: ServerThread) -> None:
    first = httpx.get(server.url + "/ui/style.css")
    again = httpx.get(server.url + "/ui/style.css", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_an_unknown_file_is_a_coded_404(server: ServerThread) -> None:
    for path in ("/ui/nothing.js", "/ui/..%2Fpyproject.toml", "/ui/sub/app.js"):
        answer = httpx.get(server.url + path)
        assert answer.status_code == 404, path
        assert answer.json()["code"] == "not_found"


def test_config_says_whether_cursor_changes_are_allowed() -> None:
    with MemoryStore() as store:
        with ServerThread(create_app(store)) as server:
            assert httpx.get(server.url + "/ui/config.json").json()["admin"] is False
        with ServerThread(create_app(store, ui_admin=True)) as server:
            assert httpx.get(server.url + "/ui/config.json").json()["admin"] is True


def test_the_inspector_routes_of_the_api_are_in_the_openapi_document() -> None:
    paths = openapi_document()["paths"]
    for route in STATS_ROUTES:
        assert route.path in paths
    assert set(paths["/log"]["get"]["responses"]) >= {"200", "401", "422"}
    schemas = openapi_document()["components"]["schemas"]
    assert "batch_first_sequence_number" in schemas["LogRecord"]["properties"]
    assert "append_rate" in schemas["Statistics"]["properties"]
    assert not any(path.startswith("/ui") for path in paths), "the page is not part of the API"


def test_serve_help_mentions_the_inspector_and_its_admin_switch() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "factstr.cli", "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "/ui" in help_text
    assert "--ui-admin" in help_text
