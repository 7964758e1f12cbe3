"""The ``factstr`` command: every subcommand, on a SQLite file in a temporary directory."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from factstr import connect
from factstr.cli import build_parser, main

COMMANDS = ["serve", "append", "query", "tail", "cursors", "models", "export", "import", "verify", "stats"]


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("FACTSTR_STORE", url)
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str, status: int = 0) -> list[Any]:
    """Run the command and return its stdout as a list of JSON values (one per line)."""
    return run_with_messages(capsys, *argv, status=status)[0]


def run_with_messages(capsys: pytest.CaptureFixture[str], *argv: str, status: int = 0) -> tuple[list[Any], str]:
    """Run the command; return its stdout as JSON values and its stderr."""
    assert main(list(argv)) == status
    captured = capsys.readouterr()
    return [json.loads(line) for line in captured.out.splitlines() if line.strip()], captured.err


def seed(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    run(capsys, "append", "opened", '{"account": "a"}')
    lines = (
        '{"event_type": "deposited", "payload": {"account": "a", "amount": 5}}\n'
        '{"event_type": "closed", "payload": null}\n'
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    run(capsys, "append")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    assert "--store" in capsys.readouterr().out


def test_append_one_event_and_a_batch_from_stdin(
    store_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, "append", "opened", '{"account": "a"}') == [
        {"first_sequence_number": 1, "last_sequence_number": 1, "committed_count": 1}
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO('{"event_type": "x", "payload": 1}\n\n{"event_type": "y"}\n'))
    assert run(capsys, "append")[0]["committed_count"] == 2


def test_append_of_bad_input_exits_1_with_a_message(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["append", "x", "{not json"]) == 1
    assert "not JSON" in capsys.readouterr().err
    assert main(["append", "x\x00", "1"]) == 1
    assert "NUL" in capsys.readouterr().err


def test_query_with_types_predicates_limit_and_backwards(
    store_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(capsys, monkeypatch)
    assert [r["sequence_number"] for r in run(capsys, "query")] == [1, 2, 3]
    assert [r["event_type"] for r in run(capsys, "query", "--predicate", '{"account": "a"}', "--backwards")] == [
        "deposited",
        "opened",
    ]
    (result,) = run(capsys, "query", "--type", "opened", "--type", "closed", "--after", "1", "--limit", "1", "--result")
    assert (result["last_returned_sequence_number"], result["current_context_version"]) == (3, 3)


def test_tail_follows_a_durable_stream_and_stores_its_cursor(
    store_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(capsys, monkeypatch)
    records = run(capsys, "tail", "--durable", "follower", "--count", "2", "--seconds", "10")
    assert [r["sequence_number"] for r in records] == [1, 2, 3]
    (info,) = run(capsys, "cursors", "inspect", "follower")
    assert (info["cursor"], info["lag"], info["active"]) == (3, 0, False)


def test_tail_live_from_a_position(
    store_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(capsys, monkeypatch)
    records = run(capsys, "tail", "--type", "closed", "--start", "1", "--count", "1", "--seconds", "10")
    assert [r["sequence_number"] for r in records] == [3]


def test_cursors_list_reset_inspect_delete(
    store_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(capsys, monkeypatch)
    run(capsys, "tail", "--durable", "c1", "--count", "2", "--seconds", "10")
    assert [info["name"] for info in run(capsys, "cursors", "list")] == ["c1"]
    run(capsys, "cursors", "reset", "c1", "1")
    assert run(capsys, "cursors", "inspect", "c1")[0]["lag"] == 2
    output, messages = run_with_messages(capsys, "cursors", "delete", "c1")
    assert output == [{"name": "c1", "deleted": True}]
    assert "deleted the durable stream 'c1'" in messages
    assert run(capsys, "cursors", "list") == []
    assert main(["cursors", "inspect", "c1"]) == 1
    assert "no durable stream named 'c1'" in capsys.readouterr().err


def test_deleting_a_cursor_that_never_existed_says_so(
    store_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(capsys, monkeypatch)
    output, messages = run_with_messages(capsys, "cursors", "delete", "never-existed")
    assert output == [{"name": "never-existed", "deleted": False}]
    assert "no durable stream named 'never-existed': nothing to delete" in messages


def test_verify_passes_on_a_sound_log(
    store_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(capsys, monkeypatch)
    (report,) = run(capsys, "verify")
    assert report == {"head": 3, "index_checks": 3, "problems": 0, "ok": True}


def test_stats_summarise_the_log(
    store_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(capsys, monkeypatch)
    (stats,) = run(capsys, "stats")
    assert (stats["head"], stats["events"], stats["batches"], stats["largest_batch"]) == (3, 3, 2, 2)
    assert stats["event_types"] == {"closed": 1, "deposited": 1, "opened": 1}


def test_commands_on_an_empty_store(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    connect(store_url).close()  # exists, holds nothing
    assert run(capsys, "query") == []
    assert run(capsys, "verify")[0]["ok"] is True
    assert run(capsys, "stats")[0]["events"] == 0


MODEL_MODULE = """
from factstr import EventFilter, EventQuery
from factstr.projections import QueryModel

def count(state, batch):
    return {"deposits": state["deposits"] + len(batch)}

DEPOSITS = QueryModel("deposit-count", EventQuery(filters=[EventFilter(event_types=["deposited"])]),
                      {"deposits": 0}, count)
"""


def test_models_rebuild_inspect_list_and_reset(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(capsys, monkeypatch)
    run(capsys, "append", "deposited", '{"account": "b", "amount": 1}')
    (tmp_path / "cli_model_demo.py").write_text(MODEL_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert run(capsys, "models", "rebuild", "cli_model_demo:DEPOSITS") == [
        {"name": "deposit-count", "state": {"deposits": 2}}
    ]
    (info,) = run(capsys, "models", "list")
    assert (info["name"], info["cursor"], info["state"]) == ("deposit-count", 4, {"deposits": 2})
    assert run(capsys, "models", "inspect", "deposit-count")[0]["lag"] == 0
    output, messages = run_with_messages(capsys, "models", "reset", "deposit-count")
    assert output == [{"name": "deposit-count", "reset": True}]
    assert "forgot the state and cursor of 'deposit-count'" in messages
    assert run(capsys, "models", "list") == []
    output, messages = run_with_messages(capsys, "models", "reset", "deposit-count")
    assert output == [{"name": "deposit-count", "reset": False}]
    assert "no query model named 'deposit-count': nothing to reset" in messages
    assert main(["models", "inspect", "deposit-count"]) == 1
    assert main(["models", "rebuild", "no_such_module:MODEL"]) == 1


def test_store_options_work_before_and_after_a_cursors_or_models_action(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FACTSTR_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'named.db'}"
    with connect(url) as store:
        store.stream_all_durable("c", lambda batch: None).unsubscribe()
    assert [info["name"] for info in run(capsys, "cursors", "--store", url, "list")] == ["c"]
    assert [info["name"] for info in run(capsys, "cursors", "list", "--store", url)] == ["c"]
    assert run(capsys, "models", "--store", url, "list") == []
    assert not (tmp_path / "factstr.db").exists()  # the default store was never looked at
