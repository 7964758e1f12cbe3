"""Every ```python block in README.md and docs/ runs, in order, one namespace per file, in a scratch folder."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
DOCUMENTS = [
    document
    for document in sorted([ROOT / "README.md", *ROOT.glob("docs/**/*.md")])
    if BLOCK.search(document.read_text(encoding="utf-8"))
]


@pytest.mark.parametrize("document", DOCUMENTS, ids=[str(d.relative_to(ROOT)) for d in DOCUMENTS])
def test_python_examples_in_docs_run(document: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = BLOCK.findall(document.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{document.stem}"}
    try:
        for index, block in enumerate(blocks):
            code = compile(block, f"{document.relative_to(ROOT)}[python block {index + 1}]", "exec")
            exec(code, namespace)
    finally:
        # Close whatever stores an example left open, so a failing example leaks nothing.
        from factstr import EventStore

        for value in namespace.values():
            if isinstance(value, EventStore):
                value.close()
    assert os.getcwd() == str(tmp_path)
