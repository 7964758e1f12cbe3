"""Run the test suites (make targets) one after the other and end with one summary line covering all of them.

``make test`` calls ``python tools/run_suites.py lint test-python test-typescript``. Each suite's output
streams through unchanged; every suite runs even when an earlier one failed, so one run shows everything. The
last line says how each suite ended (passed, failed, or skipped and why) with its test counts, and the exit
status is non-zero when any suite failed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

# What each suite is called in the summary, and why it would be skipped (None: it can run here).
NAMES = {"lint": "lint", "test-python": "python", "test-typescript": "typescript"}

_PYTEST_COUNTS = re.compile(r"\b(\d+ (?:passed|failed|skipped|errors?|xfailed|xpassed|deselected)(?:, )?)+")
_NODE_COUNT = re.compile(r"^(?:#|\u2139) (pass|fail|skipped|todo|cancelled) (\d+)\s*$")


def _node_major() -> int | None:
    try:
        version = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.match(r"v(\d+)", version.strip())
    return int(found.group(1)) if found else None


def _typescript_skip_reason() -> str | None:
    if shutil.which("npm") is None or shutil.which("node") is None:
        return "Node.js and npm are not installed (Node 20+ is needed)"
    major = _node_major()
    if major is None or major < 20:
        return f"Node.js 20+ is needed, found {major if major is not None else 'an unreadable version'}"
    return None


SKIP_CHECKS: dict[str, Callable[[], str | None]] = {"test-typescript": _typescript_skip_reason}


def _counts(target: str, lines: list[str]) -> str:
    """The test counts a suite printed, as a short text ('' when it printed none)."""
    if target == "test-python":
        for line in reversed(lines):
            found = _PYTEST_COUNTS.search(line)
            if found and (" in " in line or line.startswith("=")):
                return found.group(0).rstrip(", ")
        return ""
    if target == "test-typescript":
        counts: dict[str, int] = {}
        for line in lines:
            found = _NODE_COUNT.match(line.strip())
            if found:
                counts[found.group(1)] = int(found.group(2))
        words = {"pass": "passed", "fail": "failed", "skipped": "skipped", "todo": "todo", "cancelled": "cancelled"}
        return ", ".join(f"{count} {words[key]}" for key, count in counts.items() if count or key in ("pass", "fail"))
    return ""


def run_suite(target: str) -> tuple[str, str]:
    """Run one make target, streaming its output; return its outcome and what the summary says about it."""
    skip = SKIP_CHECKS.get(target, lambda: None)()
    if skip is not None:
        print(f"--- {NAMES.get(target, target)}: skipped ({skip})", flush=True)
        return "skipped", f"skipped ({skip})"
    started = time.monotonic()
    lines: list[str] = []
    with subprocess.Popen(
        ["make", "--no-print-directory", target],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line.rstrip("\n"))
            del lines[:-400]  # the counts are near the end
    outcome = "passed" if process.returncode == 0 else "failed"
    counts = _counts(target, lines)
    details = ", ".join(part for part in (counts, f"{time.monotonic() - started:.0f} s") if part)
    return outcome, f"{outcome} ({details})"


def main(targets: list[str]) -> int:
    results = [(NAMES.get(target, target), *run_suite(target)) for target in targets]
    failed = [name for name, outcome, _ in results if outcome == "failed"]
    parts = "; ".join(f"{name} {text}" for name, _, text in results)
    verdict = f"FAILED: {', '.join(failed)}" if failed else "all suites that ran passed"
    print(f"make test summary: {parts} -- {verdict}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
