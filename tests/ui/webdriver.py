"""A small W3C WebDriver client over the standard library, for Debian's chromium-driver.

Enough of the protocol to drive a page the way a person does (find, click, type, read) and to take
screenshots; nothing is downloaded at test time: ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` come
from the system's packages.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
]


class WebDriverError(Exception):
    """The driver answered with an error."""


def find_browser() -> tuple[str, str] | None:
    """Return the paths of chromium and chromedriver, or None when either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


class Element:
    """One element of the page, as the driver knows it."""

    def __init__(self, session: Session, element_id: str) -> None:
        self._session = session
        self.id = element_id

    def _call(self, method: str, path: str, body: object = None) -> Any:
        return self._session.call(method, f"/element/{self.id}{path}", body)

    def click(self) -> None:
        self._call("POST", "/click", {})

    def clear(self) -> None:
        self._call("POST", "/clear", {})

    def type(self, text: str) -> None:
        self._call("POST", "/value", {"text": text})

    @property
    def text(self) -> str:
        text: str = self._call("GET", "/text")
        return text

    def property(self, name: str) -> Any:
        """The value of a DOM property (``disabled``, ``open``, ``value``, ...)."""
        return self._call("GET", f"/property/{name}")

    def find(self, css: str) -> Element:
        return self._session._element(self._call("POST", "/element", {"using": "css selector", "value": css}))

    def find_all(self, css: str) -> list[Element]:
        found = self._call("POST", "/elements", {"using": "css selector", "value": css})
        return [self._session._element(item) for item in found]


class Session:
    """A browser session: chromedriver on a free loopback port, one headless chromium with a fresh profile."""

    def __init__(self, browser: str, driver: str, profile: Path) -> None:
        # The driver's output goes to a file (a pipe nobody reads could fill up and stall it).
        self._log_path = profile / "chromedriver.log"
        with self._log_path.open("w") as log:
            self._process = subprocess.Popen([driver, "--port=0"], stdout=log, stderr=subprocess.STDOUT)
        port = None
        deadline = time.monotonic() + 20
        while port is None and time.monotonic() < deadline and self._process.poll() is None:
            match = re.search(r"started successfully on port (\d+)", self._log_path.read_text())
            if match:
                port = int(match.group(1))
            else:
                time.sleep(0.05)
        if port is None:
            self._stop_driver()
            raise WebDriverError(f"chromedriver did not start: {self._log_path.read_text()[-2000:]}")
        self._base = f"http://127.0.0.1:{port}"
        self.session_id = ""
        capabilities = {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": browser,
                "args": [*CHROMIUM_FLAGS, f"--user-data-dir={profile / 'chromium'}"],
            },
        }
        try:
            answer = self._request("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        except BaseException:
            self._stop_driver()
            raise
        self.session_id = answer["sessionId"]

    # --- the protocol ------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: object = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self._base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}").get("value", {})
            raise WebDriverError(f"{detail.get('error')}: {detail.get('message', '')[:500]}") from exc
        return answer["value"]

    def call(self, method: str, path: str, body: object = None) -> Any:
        return self._request(method, f"/session/{self.session_id}{path}", body)

    def _element(self, value: dict[str, str]) -> Element:
        return Element(self, value[ELEMENT_KEY])

    # --- what tests use ----------------------------------------------------------------------------------

    def open(self, url: str) -> None:
        self.call("POST", "/url", {"url": url})

    @property
    def url(self) -> str:
        url: str = self.call("GET", "/url")
        return url

    def find(self, css: str) -> Element:
        return self._element(self.call("POST", "/element", {"using": "css selector", "value": css}))

    def find_all(self, css: str) -> list[Element]:
        return [self._element(item) for item in self.call("POST", "/elements", {"using": "css selector", "value": css})]

    def run(self, script: str, *args: object) -> Any:
        """Run JavaScript in the page (a function body; ``arguments`` holds ``args``) and return its result."""
        return self.call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait_for(self, condition: Callable[[], T | None], what: str, timeout: float = 15.0) -> T:
        """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                result = condition()
                if result:
                    return result
            except WebDriverError as exc:  # e.g. the element is not there yet
                last_error = exc
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what} (last error: {last_error})")

    def wait_for_element(self, css: str, timeout: float = 15.0) -> Element:
        return self.wait_for(lambda: self.find(css), f"an element {css!r}", timeout)

    def wait_for_text(self, css: str, text: str, timeout: float = 15.0) -> Element:
        def found() -> Element | None:
            element = self.find(css)
            return element if text in element.text else None

        return self.wait_for(found, f"{text!r} in {css!r}", timeout)

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.call("GET", "/screenshot")))
        return path

    def close(self) -> None:
        try:
            if self.session_id:
                self.call("DELETE", "")
        finally:
            self._stop_driver()

    def _stop_driver(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
