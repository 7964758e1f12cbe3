"""Fixtures for the web inspector's tests: a headless chromium, and a real ``factstr serve`` on SQLite."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from factstr.client import HTTPStore

from .webdriver import Session, find_browser

# Every browser test leaves a screenshot of the page it drove here (build/ is ignored by git).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "ui-screenshots"
TOKEN = "inspector-test-token"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    found = find_browser()
    if found is None:
        reason = "chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)"
        if os.environ.get("FACTSTR_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + ", and FACTSTR_REQUIRE_BROWSER=1 requires them")
        pytest.skip(reason)
    session = Session(*found, tmp_path_factory.mktemp("chromium"))
    try:
        session.call("POST", "/window/rect", {"width": 1280, "height": 900})
        yield session
    finally:
        session.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Inspector:
    """A running ``factstr serve`` and a client of its API."""

    url: str
    token: str | None
    client: HTTPStore

    def page(self, fragment: str) -> str:
        return f"{self.url}/ui/{fragment}"


def run_server(workdir: Path, *flags: str, token: str | None = TOKEN) -> Iterator[Inspector]:
    port = _free_port()
    command = [sys.executable, "-m", "factstr.cli", "serve", "--store", f"sqlite:///{workdir}/inspector.db"]
    command += ["--port", str(port), "--heartbeat-seconds", "1", *flags]
    if token is not None:
        command += ["--token", token]
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"factstr serve did not start: {(workdir / 'server.log').read_text()}")
            time.sleep(0.05)
        with HTTPStore(url, token=token) as client:
            yield Inspector(url, token, client)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def inspector(tmp_path: Path) -> Iterator[Inspector]:
    """An inspector with a token and ``--ui-admin``."""
    yield from run_server(tmp_path, "--ui-admin")


@pytest.fixture
def read_only_inspector(tmp_path: Path) -> Iterator[Inspector]:
    """An inspector without a token and without ``--ui-admin``."""
    yield from run_server(tmp_path, token=None)


def open_page(browser: Session, inspector: Inspector, fragment: str) -> None:
    """Open a page of the inspector, answering the token question if the page asks it."""
    browser.open(inspector.page(fragment))
    if inspector.token is not None:

        def asked_or_known() -> str | None:
            if browser.run("return document.querySelector('#token-input') !== null"):
                return "asked"
            if browser.run("return sessionStorage.getItem('factstr.token') !== null"):
                return "known"
            return None

        if browser.wait_for(asked_or_known, "the token question (or a token already known)") == "asked":
            answer_token(browser, inspector.token)
    browser.wait_for(lambda: browser.run("return document.querySelector('#page .page') !== null"), "the page")


def answer_token(browser: Session, token: str) -> None:
    field = browser.wait_for_element("#token-input")
    field.type(token)
    browser.find("dialog [data-button='ok']").click()
    browser.wait_for(
        lambda: not browser.run("return document.querySelector('dialog[open]') !== null"), "the dialog to close"
    )


def screenshot(browser: Session, name: str) -> Path:
    """Write a screenshot of the window to build/ui-screenshots/<name>.png."""
    return browser.screenshot(SCREENSHOTS / f"{name}.png")
