"""The installed ``factstr`` command as a user runs it: exit codes, messages, no tracebacks, nothing made by mistake."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import factstr
from factstr import EventQuery, MemoryStore, NewEvent, connect
from factstr.server import ServerThread, create_app

FACTSTR = str(Path(sys.executable).with_name("factstr"))
TIMEOUT = 60


def factstr_command(
    *argv: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``factstr`` script, with no store or token from the test's own environment."""
    clean = {key: value for key, value in os.environ.items() if key not in ("FACTSTR_STORE", "FACTSTR_TOKEN")}
    return subprocess.run(
        [FACTSTR, *argv],
        cwd=cwd,
        env={**clean, **(env or {})},
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def test_the_script_is_installed_next_to_the_interpreter() -> None:
    assert os.access(FACTSTR, os.X_OK), f"{FACTSTR} is missing: is the package installed (make .venv/.installed)?"


def test_version(tmp_path: Path) -> None:
    result = factstr_command("--version", cwd=tmp_path)
    assert (result.returncode, result.stdout.strip()) == (0, f"factstr {factstr.__version__}")


def test_python_dash_m_factstr_is_the_same_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "factstr", "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert (result.returncode, result.stdout.strip()) == (0, f"factstr {factstr.__version__}")


@pytest.mark.parametrize(
    "command", [["append"], ["query"], ["tail"], ["cursors", "list"], ["models", "list"], ["export"], ["import"]]
)
def test_help_says_a_server_url_works_and_takes_a_token(command: list[str], tmp_path: Path) -> None:
    result = factstr_command(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "http://host:port" in result.stdout and "--token" in result.stdout


READ_ONLY = [
    ["query"],
    ["tail", "--seconds", "1"],
    ["cursors", "list"],
    ["cursors", "delete", "x"],
    ["models", "list"],
    ["export", "out.ndjson"],
    ["verify"],
    ["stats"],
]


@pytest.mark.parametrize("command", READ_ONLY, ids=[" ".join(c) for c in READ_ONLY])
def test_commands_that_do_not_create_refuse_a_missing_store_and_create_nothing(
    command: list[str], tmp_path: Path
) -> None:
    result = factstr_command(*command, "--store", "sqlite:///typo/typo.db", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "no store at sqlite:///typo/typo.db" in result.stderr
    assert "only serve, append and import create a new store" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_default_store_is_not_created_by_a_read_either(tmp_path: Path) -> None:
    result = factstr_command("stats", cwd=tmp_path)
    assert result.returncode == 1 and "no store at sqlite:///factstr.db" in result.stderr
    assert not (tmp_path / "factstr.db").exists()


def test_append_and_import_say_when_they_create_a_store(tmp_path: Path) -> None:
    first = factstr_command("append", "opened", '{"n": 1}', "--store", "sqlite:///new/app.db", cwd=tmp_path)
    assert first.returncode == 0 and "created a new store at sqlite:///new/app.db" in first.stderr
    again = factstr_command("append", "opened", '{"n": 2}', "--store", "sqlite:///new/app.db", cwd=tmp_path)
    assert again.returncode == 0 and again.stderr == ""
    exported = factstr_command("export", "log.ndjson", "--store", "sqlite:///new/app.db", cwd=tmp_path)
    assert exported.returncode == 0
    imported = factstr_command("import", "log.ndjson", "--store", "sqlite:///copy.db", cwd=tmp_path)
    assert imported.returncode == 0 and "created a new store at sqlite:///copy.db" in imported.stderr


def test_bad_input_to_append_creates_no_store(tmp_path: Path) -> None:
    result = factstr_command("append", "x", '{"n": NaN}', "--store", "sqlite:///app.db", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "app.db").exists()


def test_missing_files_are_one_line_messages(tmp_path: Path) -> None:
    connect(f"sqlite:///{tmp_path / 'app.db'}").close()
    missing = factstr_command("import", "nosuch.ndjson", "--store", "sqlite:///copy.db", cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr == "factstr import: cannot read nosuch.ndjson: No such file or directory\n"
    assert not (tmp_path / "copy.db").exists()
    unwritable = factstr_command("export", "/nonexistent/out.ndjson", "--store", "sqlite:///app.db", cwd=tmp_path)
    assert unwritable.returncode == 1
    assert unwritable.stderr == "factstr export: cannot write /nonexistent/out.ndjson: No such file or directory\n"


def hide_modules(tmp_path: Path, *names: str) -> dict[str, str]:
    """An environment in which ``names`` cannot be imported, as if their extra were not installed."""
    hider = tmp_path / "hide"
    hider.mkdir()
    hidden = "".join(f"sys.modules[{name!r}] = None\n" for name in names)
    (hider / "sitecustomize.py").write_text(f"import sys\n{hidden}")
    return {"PYTHONPATH": str(hider)}


def test_a_postgresql_url_without_the_postgres_extra_names_the_pip_command(tmp_path: Path) -> None:
    env = hide_modules(tmp_path, "psycopg", "psycopg_pool")
    result = factstr_command("stats", "--store", "postgresql://nobody@127.0.0.1:9/none", cwd=tmp_path, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "pip install 'factstr[postgres]'" in result.stderr


def test_serve_without_the_server_extra_names_the_pip_command(tmp_path: Path) -> None:
    env = hide_modules(tmp_path, "starlette", "uvicorn")
    result = factstr_command("serve", "--store", "memory://", "--port", "0", cwd=tmp_path, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "pip install 'factstr[server]'" in result.stderr


@pytest.fixture
def guarded_server() -> Iterator[str]:
    """A server over a memory store that requires the token ``s3cret``."""
    store = MemoryStore()
    server = ServerThread(create_app(store, token="s3cret")).start()
    try:
        yield server.url
    finally:
        server.stop()
        store.close()


def test_client_commands_reach_a_server_that_needs_a_token(guarded_server: str, tmp_path: Path) -> None:
    refused = factstr_command("append", "x", "{}", "--store", guarded_server, cwd=tmp_path)
    assert refused.returncode == 1 and "unauthorized" in refused.stderr
    by_option = factstr_command("append", "x", "{}", "--store", guarded_server, "--token", "s3cret", cwd=tmp_path)
    assert by_option.returncode == 0, by_option.stderr
    by_environment = factstr_command("query", "--store", guarded_server, cwd=tmp_path, env={"FACTSTR_TOKEN": "s3cret"})
    assert by_environment.returncode == 0 and '"event_type":"x"' in by_environment.stdout
    stats = factstr_command("stats", "--store", guarded_server, "--token", "s3cret", cwd=tmp_path)
    assert stats.returncode == 0 and '"events":1' in stats.stdout


def test_a_token_for_a_database_is_a_usage_error(tmp_path: Path) -> None:
    result = factstr_command("append", "x", "{}", "--store", "memory://", "--token", "t", cwd=tmp_path)
    assert result.returncode == 2 and "--token is for a server" in result.stderr


def test_models_over_a_server_say_what_to_pass(guarded_server: str, tmp_path: Path) -> None:
    result = factstr_command("models", "list", "--store", guarded_server, cwd=tmp_path)
    assert result.returncode == 1
    assert "pass the database itself, e.g. --store sqlite:///app.db" in result.stderr


MODEL_MODULE = """
from factstr import EventFilter, EventQuery
from factstr.projections import QueryModel

COUNT = QueryModel("opened-count", EventQuery(filters=[EventFilter(event_types=["opened"])]), 0,
                   lambda state, batch: state + len(batch))
"""


def test_models_rebuild_imports_the_model_from_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "shopmodels.py").write_text(MODEL_MODULE)
    assert factstr_command("append", "opened", "{}", cwd=tmp_path).returncode == 0
    result = factstr_command("models", "rebuild", "shopmodels:COUNT", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '{"name":"opened-count","state":1}'


def test_append_on_a_terminal_says_it_reads_standard_input(tmp_path: Path) -> None:
    connect(f"sqlite:///{tmp_path / 'app.db'}").close()
    controller, terminal = pty.openpty()
    clean = {key: value for key, value in os.environ.items() if key not in ("FACTSTR_STORE", "FACTSTR_TOKEN")}
    process = subprocess.Popen(
        [FACTSTR, "append", "--store", "sqlite:///app.db"],
        cwd=tmp_path,
        env=clean,
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(terminal)
    try:
        assert process.stderr is not None
        ready, _, _ = select.select([process.stderr], [], [], TIMEOUT)
        assert ready, "no message before reading standard input"
        assert "reading events from standard input" in process.stderr.readline()
        os.write(controller, b'{"event_type": "typed", "payload": 1}\n')
        os.write(controller, b"\x04")  # Ctrl-D: end of input
        out, _ = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        os.close(controller)
    assert process.returncode == 0 and '"committed_count":1' in out
    with connect(f"sqlite:///{tmp_path / 'app.db'}") as store:
        assert [r.event_type for r in store.query(EventQuery()).event_records] == ["typed"]


def test_append_from_a_pipe_stays_quiet(tmp_path: Path) -> None:
    connect(f"sqlite:///{tmp_path / 'app.db'}").close()
    result = factstr_command(
        "append", "--store", "sqlite:///app.db", cwd=tmp_path, stdin='{"event_type": "piped", "payload": null}\n'
    )
    assert (result.returncode, result.stderr) == (0, "")


def test_a_long_listing_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    with connect(url) as store:
        store.append([NewEvent("e", {"n": n}) for n in range(5000)])
    result = subprocess.run(
        f"'{FACTSTR}' query --store {url} | head -n 1",
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0 and result.stdout.count("\n") == 1 and result.stderr == ""
