"""The Dockerfile of ``factstr serve``: built and run where a container engine works, linted everywhere."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    pairs = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def final_stage(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [index for index, (keyword, _) in enumerate(pairs) if keyword == "FROM"]
    return pairs[starts[-1] :]


def lint(text: str) -> list[str]:
    """The problems of a Dockerfile for `factstr serve`, as sentences (none: it is fine)."""
    pairs = instructions(text)
    problems = []
    images = [rest.split()[0] for keyword, rest in pairs if keyword == "FROM"]
    if not images:
        return ["no FROM"]
    for image in images:
        if image.startswith("--"):
            problems.append(f"FROM {image}: platform flags make the image machine-specific")
        name, _, tag = image.partition(":")
        if not tag or tag == "latest":
            problems.append(f"FROM {image}: pin a tag, never latest")
        elif name == "python" and "slim" not in tag:
            problems.append(f"FROM {image}: use a slim Python base")
    stage = final_stage(pairs)
    users = [rest for keyword, rest in stage if keyword == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the final stage runs as root: add USER with a non-root user")
    keywords = [keyword for keyword, _ in stage]
    for needed in ("VOLUME", "HEALTHCHECK", "EXPOSE"):
        if needed not in keywords:
            problems.append(f"the final stage has no {needed}")
    runs = " ".join(rest for keyword, rest in pairs if keyword == "RUN")
    if "sudo " in runs or ("curl " in runs and "| sh" in runs):
        problems.append("RUN uses sudo or pipes a download into a shell")
    if any(keyword == "ADD" and "://" in rest for keyword, rest in pairs):
        problems.append("ADD of a URL: download in a RUN step with a checksum instead")
    command = " ".join(rest for keyword, rest in stage if keyword in ("ENTRYPOINT", "CMD"))
    if "factstr" not in command or "serve" not in command:
        problems.append("the image does not start `factstr serve`")
    if "--insecure" in command:
        problems.append("the image serves without a token (--insecure)")
    return problems


def test_the_dockerfile_passes_the_lint() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert lint(text) == []
    stage = final_stage(instructions(text))
    volumes = [rest for keyword, rest in stage if keyword == "VOLUME"]
    assert json.loads(volumes[0]) == ["/data"]
    environment = " ".join(rest for keyword, rest in stage if keyword == "ENV")
    assert "FACTSTR_STORE=sqlite:////data/factstr.db" in environment  # the SQLite file lives in the volume
    (healthcheck,) = [rest for keyword, rest in stage if keyword == "HEALTHCHECK"]
    assert "/healthz" in healthcheck
    assert [rest for keyword, rest in stage if keyword == "EXPOSE"] == ["7117"]


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        ("FROM python:3.12-slim-bookworm AS build", "pin a tag"),  # replaced by an unpinned image below
        ("USER factstr", "runs as root"),
        ("VOLUME", "no VOLUME"),
        ("HEALTHCHECK", "no HEALTHCHECK"),
        ("EXPOSE 7117", "no EXPOSE"),
    ],
)
def test_the_lint_finds_each_problem(broken: str, problem: str) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    if broken.startswith("FROM"):
        damaged = text.replace(broken, "FROM python AS build")
    else:
        lines = text.splitlines()
        start = next(index for index, line in enumerate(lines) if line.startswith(broken))
        end = start + 1
        while lines[end - 1].endswith("\\"):
            end += 1
        damaged = "\n".join(lines[:start] + lines[end:])
    assert damaged != text
    assert any(problem in found for found in lint(damaged)), lint(damaged)


def container_engine() -> str | None:
    """docker or podman, if one is installed and its engine answers."""
    for tool in ("docker", "podman"):
        if shutil.which(tool) is None:
            continue
        try:
            if subprocess.run([tool, "info"], capture_output=True, timeout=30).returncode == 0:
                return tool
        except (OSError, subprocess.SubprocessError):
            continue
    return None


def test_the_image_builds_and_serves_as_a_non_root_user() -> None:
    engine = container_engine()
    if engine is None:
        pytest.skip("no container engine answers here (docker/podman info fails); the lint above still ran")
    tag = f"factstr-test-{uuid.uuid4().hex[:12]}"
    name = f"{tag}-run"
    build = subprocess.run([engine, "build", "-t", tag, str(ROOT)], capture_output=True, text=True, timeout=1200)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    try:
        user = subprocess.run(
            [engine, "run", "--rm", "--entrypoint", "id", tag, "-u"], capture_output=True, text=True, timeout=120
        )
        assert user.stdout.strip() not in ("", "0")
        refused = subprocess.run([engine, "run", "--rm", tag], capture_output=True, text=True, timeout=120)
        assert refused.returncode != 0 and "without a token" in refused.stderr
        started = subprocess.run(
            [engine, "run", "-d", "--name", name, "-e", "FACTSTR_TOKEN=t", "-p", "127.0.0.1::7117", tag],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert started.returncode == 0, started.stderr
        port = subprocess.run([engine, "port", name, "7117"], capture_output=True, text=True, timeout=60)
        address = port.stdout.strip().splitlines()[0]
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://{address}/healthz", timeout=2) as response:
                    assert json.loads(response.read())["status"] == "ok"
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        subprocess.run([engine, "rm", "-f", name], capture_output=True, timeout=120)
        subprocess.run([engine, "rmi", "-f", tag], capture_output=True, timeout=120)
