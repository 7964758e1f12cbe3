"""``--namespace`` on the commands that talk to a store, and ``serve``'s namespace options."""

from __future__ import annotations

import argparse
import json
import signal
from pathlib import Path

import httpx
import pytest

from factstr.cli import main
from factstr.cli._output import UsageError
from factstr.cli._serve import namespace_tokens

from .test_serve import start_server


def _out(capsys: pytest.CaptureFixture[str], *argv: str, status: int = 0) -> list[object]:
    assert main(list(argv)) == status
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_namespace_option_reaches_a_namespace_of_a_sqlite_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{tmp_path / 'app.db'}"
    _out(capsys, "append", "opened", "{}", "--store", store)
    _out(capsys, "append", "tenant-fact", "{}", "--store", store, "--namespace", "acme")
    in_acme = _out(capsys, "query", "--store", store, "--namespace", "acme")
    assert [(r["sequence_number"], r["event_type"]) for r in in_acme] == [(1, "tenant-fact")]  # type: ignore[index]
    in_default = _out(capsys, "query", "--store", store)
    assert [r["event_type"] for r in in_default] == ["opened"]  # type: ignore[index]
    assert (tmp_path / "app.db.namespaces" / "acme.db").exists()
    # A read of a namespace that does not exist creates nothing.
    assert main(["query", "--store", store, "--namespace", "nope"]) == 1
    assert "no namespace 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "app.db.namespaces" / "nope.db").exists()
    _out(capsys, "query", "--store", store, "--namespace", "Bad!", status=2)


def test_namespace_tokens_come_from_options_and_a_file_and_are_never_echoed(tmp_path: Path) -> None:
    file = tmp_path / "tokens"
    file.write_text("# tenants\n\nglobex = g-secret\n")
    args = argparse.Namespace(namespace_token=["acme=a-secret"], namespace_tokens_file=str(file))
    assert namespace_tokens(args) == {"acme": "a-secret", "globex": "g-secret"}
    file.write_text("just-a-secret-without-a-name\n")
    with pytest.raises(UsageError) as refused:
        namespace_tokens(argparse.Namespace(namespace_token=None, namespace_tokens_file=str(file)))
    assert "secret" not in str(refused.value).replace(str(file), "")
    with pytest.raises(UsageError, match="has a token already"):
        namespace_tokens(argparse.Namespace(namespace_token=["a=1", "a=2"], namespace_tokens_file=None))


def test_serve_with_an_admin_token_and_namespace_tokens(tmp_path: Path) -> None:
    process, url = start_server(
        tmp_path,
        "--store",
        "memory://",
        "--admin-token",
        "root-admin-xyz",
        "--namespace-token",
        "acme=acme-token",
        "--max-namespaces",
        "2",
    )
    try:
        acme = {"Authorization": "Bearer acme-token"}
        root = {"Authorization": "Bearer root-admin-xyz"}
        assert httpx.get(url + "/ns/acme/head", headers=acme).json() == {"head": None}
        assert httpx.get(url + "/head", headers=acme).status_code == 403
        assert httpx.post(url + "/namespaces", headers=root, json={"name": "b"}).status_code == 201
        too_many = httpx.post(url + "/namespaces", headers=root, json={"name": "c"})
        assert too_many.json()["code"] == "too_many_namespaces"
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "acme-token" not in err and "root-admin-xyz" not in err
