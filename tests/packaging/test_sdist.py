"""The sdist holds the library and everything its Python tests read, and no build or test debris."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_sdist(outdir: Path) -> Path:
    # --no-isolation: the build backend comes from the dev extra, so this needs no network.
    result = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(outdir), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (archive,) = outdir.glob("factstr-*.tar.gz")
    return archive


def referenced_by_tests() -> set[str]:
    """The files and folders outside tests/ that the tests read through the repository root."""
    needed = {"README.md", "docs", "examples", "bench", "openapi.json", "LICENSE", "pyproject.toml", "Dockerfile"}
    needed |= {"Makefile", "tools/run_suites.py", "CHANGELOG.md"}
    for test in (ROOT / "tests").rglob("*.py"):
        text = test.read_text(encoding="utf-8")
        for name in re.findall(r'ROOT / "([\w./-]+)"', text):
            needed.add(name)
    return needed


def test_the_sdist_holds_what_its_tests_need(tmp_path: Path) -> None:
    archive = build_sdist(tmp_path)
    with tarfile.open(archive) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
        pkg_info = tar.extractfile(next(n for n in tar.getnames() if n.endswith("/PKG-INFO")))
        assert pkg_info is not None
        metadata = pkg_info.read().decode()
    top = {name.split("/")[0] for name in names}
    for needed in sorted(referenced_by_tests()):
        assert needed in names or needed in top, f"the sdist lacks {needed}, which the tests read"
    assert {"src/factstr/__init__.py", "src/factstr/py.typed", "src/factstr/cli/_main.py"} <= names
    assert "tests/conftest.py" in names and "tests/test_docs.py" in names
    assert not [name for name in names if "__pycache__" in name or name.endswith((".pyc", ".db"))]
    assert not [name for name in names if name.startswith(("clients/", ".ci/", ".venv/", "bench/results/"))]
    # The metadata PyPI shows: the license file, authors and URLs travel with the sdist.
    assert "License-Expression: Apache-2.0" in metadata and "License-File: LICENSE" in metadata
    assert "Author: FACTSTR maintainers" in metadata
    assert "Project-URL: Repository, https://github.com/factstr/factstr" in metadata
    assert "Provides-Extra: testing" in metadata
