"""The file format: creation, recognition, versions, migrations, and files FACTSTR must not touch."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import factstr
from factstr import BackendError, InvalidInput, NewEvent, SchemaVersionError
from factstr.sqlite import SQLiteStore, _schema


def _tables(path: str) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'").fetchall()
    connection.close()
    return {row[0] for row in rows}


def test_sqlite_store_is_exported_as_factstr_sqlite_store() -> None:
    assert factstr.SQLiteStore is SQLiteStore
    assert SQLiteStore.__module__ == "factstr"
    assert repr(SQLiteStore).startswith("<class 'factstr.SQLiteStore'")


def test_connect_opens_an_absolute_sqlite_url(database: str) -> None:
    with factstr.connect("sqlite:///" + database) as store:
        assert isinstance(store, SQLiteStore)
        assert store.path == database


def test_connect_opens_a_relative_sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with factstr.connect("sqlite:///relative/events.db") as store:
        store.append([NewEvent("t", {})])
    assert (tmp_path / "relative" / "events.db").is_file()


def test_a_new_file_gets_the_latest_schema_and_wal_mode(database: str) -> None:
    SQLiteStore(database).close()
    assert {"factstr_meta", "events", "event_terms", "durable_cursors"} <= _tables(database)
    connection = sqlite3.connect(database)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("PRAGMA application_id").fetchone()[0] == _schema.APPLICATION_ID
        version = connection.execute("SELECT value FROM factstr_meta WHERE key = 'schema_version'").fetchone()
        assert int(version[0]) == _schema.latest_version()
    finally:
        connection.close()


def test_a_missing_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "events.db"
    with SQLiteStore(path) as store:
        store.append([NewEvent("t", {})])
    assert path.is_file()


def test_events_and_cursors_survive_reopening(database: str) -> None:
    with SQLiteStore(database) as store:
        store.append([NewEvent("t", {"n": 1}), NewEvent("t", {"n": 2})])
        store.stream_all_durable("projection", lambda batch: None).wait_until(2, timeout=10)
    with SQLiteStore(database) as store:
        assert store.head() == 2
        info = store.durable_stream("projection")
        assert info is not None and info.cursor == 2


def test_a_file_that_is_not_a_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    content = b"these are my notes, not a database\n" * 200
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match="not a FACTSTR database") as caught:
        SQLiteStore(path)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_another_applications_sqlite_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE things (id INTEGER PRIMARY KEY)")
    connection.commit()
    connection.close()
    before = path.read_bytes()
    with pytest.raises(InvalidInput, match="did not create"):
        SQLiteStore(path)
    assert path.read_bytes() == before
    assert _tables(str(path)) == {"things"}


def test_a_file_from_a_newer_factstr_raises_schema_version_error(database: str) -> None:
    SQLiteStore(database).close()
    connection = sqlite3.connect(database)
    connection.execute("UPDATE factstr_meta SET value = ? WHERE key = 'schema_version'", (str(99),))
    connection.commit()
    connection.close()
    with pytest.raises(SchemaVersionError, match="99"):
        SQLiteStore(database)


def test_opening_migrates_an_older_file_forward_once(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with SQLiteStore(database) as store:
        store.append([NewEvent("t", {"n": 1})])
    step = _schema.Migration(
        _schema.latest_version() + 1,
        ("CREATE TABLE migrated (id INTEGER PRIMARY KEY)", "INSERT INTO migrated VALUES (1)"),
    )
    monkeypatch.setattr(_schema, "MIGRATIONS", (*_schema.MIGRATIONS, step))
    for _ in range(2):  # the second open finds the file current and changes nothing
        with SQLiteStore(database) as store:
            assert store.head() == 1
    connection = sqlite3.connect(database)
    try:
        assert connection.execute("SELECT count(*) FROM migrated").fetchone()[0] == 1
        version = connection.execute("SELECT value FROM factstr_meta WHERE key = 'schema_version'").fetchone()
        assert int(version[0]) == step.version
    finally:
        connection.close()


def test_a_directory_in_place_of_the_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="directory"):
        SQLiteStore(tmp_path)


@pytest.mark.parametrize("path", ["", ":memory:", "file:events.db?mode=memory"])
def test_paths_that_do_not_name_a_file_are_refused(path: str) -> None:
    with pytest.raises(InvalidInput):
        SQLiteStore(path)


@pytest.mark.parametrize(
    "options",
    [{"durability": "paranoid"}, {"busy_timeout": 0}, {"busy_timeout": "5"}, {"watch_interval": -1}],
)
def test_bad_options_are_refused(database: str, options: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        SQLiteStore(database, **options)  # type: ignore[arg-type]
    assert not os.path.exists(database)


# --- read-only files ---------------------------------------------------------------------------------------
#
# root ignores file permissions, so the opening happens in a child process that gives root up (becomes user
# "nobody") once its imports are done: the interpreter itself may live where "nobody" cannot read.

_OPEN_AND_REPORT = """
    import os
    import sys
    from factstr import BackendError
    from factstr.sqlite import SQLiteStore
    if os.geteuid() == 0:
        os.setgid(65534)
        os.setuid(65534)
    try:
        SQLiteStore(sys.argv[1]).close()
    except BackendError as exc:
        print("BackendError:", exc)
    else:
        print("opened")
"""


def _open_without_privileges(path: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_OPEN_AND_REPORT), path],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


@pytest.fixture
def shared_directory() -> Iterator[Path]:
    """A directory a less privileged child process can enter (pytest's own are private to the user)."""
    directory = Path(tempfile.mkdtemp(prefix="factstr-ro-"))
    directory.chmod(0o777)
    yield directory
    directory.chmod(0o777)
    shutil.rmtree(directory)


def test_a_read_only_file_gives_a_backend_error(shared_directory: Path) -> None:
    path = shared_directory / "events.db"
    with SQLiteStore(path) as store:
        store.append([NewEvent("t", {})])
    for file in shared_directory.iterdir():
        file.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    try:
        before = path.read_bytes()
        assert "read" in _open_without_privileges(str(path)).lower()
        assert path.read_bytes() == before
    finally:
        for file in shared_directory.iterdir():
            file.chmod(0o666)


def test_a_read_only_directory_gives_a_backend_error(shared_directory: Path) -> None:
    shared_directory.chmod(0o555)
    try:
        output = _open_without_privileges(str(shared_directory / "events.db"))
        assert output.startswith("BackendError:"), output
        assert list(shared_directory.iterdir()) == []
    finally:
        shared_directory.chmod(0o777)


def test_errors_of_the_driver_are_translated(database: str) -> None:
    with SQLiteStore(database) as store:
        store._writer.execute("DROP TABLE event_terms")  # break the file behind the store's back
        with pytest.raises(BackendError) as caught:
            store.append([NewEvent("t", {"k": "v"})])
        assert isinstance(caught.value.__cause__, sqlite3.Error)
        assert store.head() is None  # nothing of the failed batch was committed


@pytest.mark.parametrize(("durability", "synchronous"), [("full", 2), ("normal", 1)])
def test_durability_sets_how_commits_wait_for_the_disk(database: str, durability: str, synchronous: int) -> None:
    with SQLiteStore(database, durability=durability) as store:  # type: ignore[arg-type]
        assert store._writer.execute("PRAGMA synchronous").fetchone()[0] == synchronous
        assert store._writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_close_ends_the_watcher_and_closes_every_connection(database: str) -> None:
    store = SQLiteStore(database)
    with store.stream_all(lambda batch: None):
        store.append([NewEvent("t", {})])
        assert store.query(factstr.EventQuery()).event_records
    assert any(thread.name == "factstr-sqlite-watch" for thread in threading.enumerate())
    store.close()
    assert not any(thread.name == "factstr-sqlite-watch" for thread in threading.enumerate())
    with pytest.raises(sqlite3.ProgrammingError):
        store._writer.execute("SELECT 1")
    with pytest.raises(factstr.StoreClosed):
        store.query(factstr.EventQuery())


def test_a_sqlite_library_without_fts5_gives_a_clear_backend_error() -> None:
    class WithoutFts5:
        def execute(self, statement: str) -> None:
            raise sqlite3.OperationalError("no such module: fts5")

    with pytest.raises(BackendError, match="without FTS5"):
        _schema._execute_ddl(WithoutFts5(), _schema.EVENT_TERMS_INDEX, "/data/e.db")  # type: ignore[arg-type]
