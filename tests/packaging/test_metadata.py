"""The package explains itself: license, project metadata, extras, and a README that PyPI renders."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_license_file_is_the_apache_license_2_0_that_pyproject_declares() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert PROJECT["license"] == "Apache-2.0" and PROJECT["license-files"] == ["LICENSE"]
    assert text.lstrip().startswith("Apache License\n                           Version 2.0, January 2004")
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX: How to apply the Apache License" in text
    assert len(text.split()) > 1500  # the whole text, not a pointer to it


def test_project_metadata_names_authors_urls_classifiers_and_keywords() -> None:
    assert PROJECT["authors"] == [{"name": "FACTSTR maintainers"}]
    assert {"Homepage", "Repository", "Documentation", "Issues", "Changelog"} <= set(PROJECT["urls"])
    assert all(url.startswith("https://") for url in PROJECT["urls"].values())
    assert "Programming Language :: Python :: 3.11" in PROJECT["classifiers"]
    assert "Typing :: Typed" in PROJECT["classifiers"]
    # A license classifier next to an SPDX license expression is refused by the build backend.
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]
    assert "event sourcing" in PROJECT["keywords"]


def test_the_testing_extra_brings_what_factstr_testing_imports() -> None:
    extras = PROJECT["optional-dependencies"]
    assert sorted(re.split(r"[<>=\[]", requirement)[0] for requirement in extras["testing"]) == ["hypothesis", "pytest"]
    assert any("testing" in requirement for requirement in extras["dev"])


def test_the_readme_starts_with_pip_install_before_the_development_commands() -> None:
    install = README.index("pip install factstr")
    for extra in ("postgres", "server", "testing"):
        assert f"pip install 'factstr[{extra}]'" in README
    assert install < README.index("make test") and install < README.index("make serve")
    assert "make typescript-deps" in README  # which command installs the Node dependencies


def test_readme_links_are_absolute_so_that_pypi_renders_them() -> None:
    targets = re.findall(r"\]\(([^)]+)\)", README)
    assert targets, "the README has links"
    relative = [target for target in targets if not target.startswith(("https://", "#"))]
    assert relative == []
    docs = ROOT / "docs"
    prefix = "https://github.com/factstr/factstr/blob/main/"
    for target in targets:
        if target.startswith(prefix):
            assert (ROOT / target.removeprefix(prefix)).exists(), f"{target} names no file of the repository"
    assert (docs / "contract.md").exists()


def test_the_contract_document_has_every_clause_the_tests_cite() -> None:
    contract = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#{2,3} (C\d+(?:\.\d+)?)\.? ", contract, re.MULTILINE))
    cited: set[str] = set()
    for module in (ROOT / "src" / "factstr" / "testing" / "conformance").glob("*.py"):
        for tags in re.findall(r'"""(C[\d., C-]+):', module.read_text(encoding="utf-8")):
            cited |= set(re.findall(r"C\d+(?:\.\d+)?", tags))
    assert cited and cited <= headings, sorted(cited - headings)
    assert {f"C{n}" for n in range(1, 9)} <= headings
    assert "### Limits" in contract  # the place the limits are listed


def test_every_reference_to_the_contract_names_docs_contract_md() -> None:
    stale = []
    for folder in ("docs", "src", "tests", "clients/typescript/src", "clients/typescript/test"):
        for path in (ROOT / folder).rglob("*"):
            readable = path.suffix in (".md", ".py", ".ts") and "node_modules" not in path.parts
            if readable and path.name != "test_metadata.py" and "CONTRACT.md" in path.read_text(encoding="utf-8"):
                stale.append(str(path.relative_to(ROOT)))
    assert "CONTRACT.md" not in README
    assert stale == []
