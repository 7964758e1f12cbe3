"""``factstr export`` and ``import``: a damaged file commits nothing, a partial import continues, all is checked."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from factstr import BackendError, EventFilter, EventQuery, EventRecord, EventStore, NewEvent, connect
from factstr.cli import main

BATCHES = 40
HEAD = sum(number % 3 + 1 for number in range(BATCHES))


def outcome(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[Any], str]:
    """Run the command; return its exit status, its stdout as JSON values, and its stderr."""
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, [json.loads(line) for line in captured.out.splitlines() if line.strip()], captured.err


@pytest.fixture
def source(tmp_path: Path) -> str:
    """A SQLite store of BATCHES batches (of 1 to 3 events) and one durable cursor."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    with connect(url) as store:
        for number in range(BATCHES):
            store.append([NewEvent("counted", {"n": number, "i": i}) for i in range(number % 3 + 1)])
        query = EventQuery(filters=[EventFilter(event_types=["counted"])])
        with store.stream_to_durable("follower", query, lambda batch: None) as stream:
            assert stream.wait_until(store.head() or 0, timeout=10)
        store.reset_durable_stream("follower", 7)
    return url


@pytest.fixture
def export(source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "log.ndjson"
    assert outcome(capsys, "export", str(path), "--store", source)[0] == 0
    return path


def records(url: str) -> list[EventRecord]:
    with connect(url) as store:
        return store.query(EventQuery()).event_records


def test_a_file_cut_between_lines_is_refused_and_creates_nothing(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = export.read_bytes().splitlines(keepends=True)
    half = tmp_path / "half.ndjson"
    half.write_bytes(b"".join(lines[: len(lines) // 2]))  # `head -n`: whole lines, no end line
    target = tmp_path / "copy.db"
    status, output, messages = outcome(capsys, "import", str(half), "--store", f"sqlite:///{target}")
    assert status == 1 and output == []
    assert "the file is truncated" in messages and "its last line is not the end line" in messages
    assert not target.exists()


def test_a_file_cut_inside_a_line_is_refused_and_creates_nothing(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = export.read_bytes()
    cut = tmp_path / "cut.ndjson"
    cut.write_bytes(data[: len(data) * 2 // 3])
    target = tmp_path / "copy.db"
    status, _, messages = outcome(capsys, "import", str(cut), "--store", f"sqlite:///{target}")
    assert status == 1 and "it ends inside a line" in messages
    assert not target.exists()


def test_a_changed_byte_fails_the_checksum(export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    changed = tmp_path / "changed.ndjson"
    changed.write_bytes(export.read_bytes().replace(b'"n":5,', b'"n":6,', 1))
    target = tmp_path / "copy.db"
    status, _, messages = outcome(capsys, "import", str(changed), "--store", f"sqlite:///{target}")
    assert status == 1 and "checksum does not match" in messages
    assert not target.exists()


def test_an_export_of_the_old_format_or_another_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old.ndjson"
    old.write_text('{"factstr_export": 1, "head": null}\n')
    status, _, messages = outcome(capsys, "import", str(old), "--store", "memory://")
    assert status == 1 and "export format 1 is not supported" in messages
    other = tmp_path / "other.ndjson"
    other.write_text('{"event_type": "x"}\n')
    status, _, messages = outcome(capsys, "import", str(other), "--store", "memory://")
    assert status == 1 and "not a file written by factstr export" in messages


def write_export(path: Path, lines: list[dict[str, Any]], head: int, batches: int) -> None:
    """A file with a valid header and end line around ``lines`` (to test what only a crafted file can hold)."""
    body = b"".join(json.dumps(line).encode() + b"\n" for line in [{"factstr_export": 2, "head": head}, *lines])
    end = {"events": head, "batches": batches, "durable_streams": 0, "sha256": hashlib.sha256(body).hexdigest()}
    path.write_bytes(body + json.dumps({"end": end}).encode() + b"\n")


def test_a_checksummed_file_with_a_gap_is_still_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = {"occurred_at": "2026-01-01T00:00:00.000000Z", "event_type": "a", "payload": 1}
    crafted = tmp_path / "gap.ndjson"
    write_export(crafted, [{"batch": [{"sequence_number": n, **record}]} for n in (1, 3)], head=3, batches=2)
    status, output, messages = outcome(capsys, "import", str(crafted), "--store", f"sqlite:///{tmp_path / 'c.db'}")
    assert status == 1 and "does not continue the log at 2" in messages
    assert output[0]["ok"] is False and output[0]["imported_events"] == 1
    assert "this run committed events 1..1 (1 in 1 batches)" in messages


def test_an_interrupted_import_says_what_it_committed_and_the_same_command_continues(
    source: str,
    export: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    original = EventStore.import_batch
    calls = 0

    def failing_after_ten(self: EventStore, batch: list[EventRecord]) -> Any:
        nonlocal calls
        calls += 1
        if calls > 10:
            raise BackendError("the database went away")
        return original(self, batch)

    monkeypatch.setattr(EventStore, "import_batch", failing_after_ten)
    status, output, messages = outcome(capsys, "import", str(export), "--store", target)
    committed = records(target)[-1].sequence_number
    assert status == 1
    assert output == [
        {
            "ok": False,
            "problem": "the database went away",
            "head": HEAD,
            "store_head": committed,
            "imported_events": committed,
            "already_present_events": 0,
            "imported_batches": 10,
            "durable_streams": 0,
        }
    ]
    assert f"this run committed events 1..{committed} (" in messages
    assert f"the store holds events 1..{committed} of the file's {HEAD}" in messages
    assert "run the same import again to continue" in messages

    monkeypatch.setattr(EventStore, "import_batch", original)
    status, output, messages = outcome(capsys, "import", str(export), "--store", target)
    assert status == 0, messages
    assert f"already holds events 1..{committed}" in messages
    assert output[0]["already_present_events"] == committed
    assert output[0]["imported_events"] == HEAD - committed and output[0]["store_head"] == HEAD
    assert records(target) == records(source)
    with connect(target) as copy:
        info = copy.durable_stream("follower")
        assert info is not None and info.cursor == 7

    # A third run finds everything in place: nothing to do, still a success.
    status, output, _ = outcome(capsys, "import", str(export), "--store", target)
    assert status == 0 and output[0]["imported_events"] == 0 and output[0]["already_present_events"] == HEAD


def test_a_store_holding_other_events_is_refused_untouched(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = f"sqlite:///{tmp_path / 'other.db'}"
    with connect(target) as store:
        store.append([NewEvent("something-else", {})])
    status, output, messages = outcome(capsys, "import", str(export), "--store", target)
    assert status == 1
    assert "the store's event 1 is not the file's" in messages and "this run committed no events" in messages
    assert output[0]["imported_events"] == 0
    assert [r.event_type for r in records(target)] == ["something-else"]


def test_import_reads_standard_input(
    source: str, export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(export.read_bytes())))
    target = f"sqlite:///{tmp_path / 'piped.db'}"
    status, output, _ = outcome(capsys, "import", "--store", target)
    assert status == 0 and output[0]["store_head"] == HEAD
    assert records(target) == records(source)


def test_export_caps_cursors_at_the_exported_head(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A cursor past the exported head would make the copy skip its own next events."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    with connect(url) as store:
        store.append([NewEvent("a", {})])
        with store.stream_all_durable("ahead", lambda batch: None) as stream:
            assert stream.wait_until(1, timeout=10)
        store.reset_durable_stream("ahead", 5)  # as if it had handled events appended during the export
    path = tmp_path / "e.ndjson"
    assert outcome(capsys, "export", str(path), "--store", url)[0] == 0
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[2]["durable_stream"]["cursor"] == 1


def test_import_refuses_a_server_and_points_at_the_database(export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, messages = outcome(capsys, "import", str(export), "--store", "http://127.0.0.1:9")
    assert status == 1 and "pass the database itself" in messages
