"""The peers FACTSTR is compared with, each behind :class:`bench.systems.Log`.

- **UmaDB** (``pip install umadb``): a DCB event store server written in Rust, shipped in the wheel as the
  ``umadb`` command, with a Python client. Every log gets its own server: ``umadb --listen 127.0.0.1:<free
  port> --db-path <scratch dir>/uma.db`` with the server's default settings (synchronous, durable writes),
  started here and stopped by its PID (SIGTERM, then SIGKILL after 10 s), its directory removed.
- **eventsourcing** (``pip install 'eventsourcing[postgres]'``): the DCB recorder of the eventsourcing library
  (``PostgresDCBRecorderTT``) on PostgreSQL, with the server's default settings. Every log gets its own
  scratch database, created and dropped here.

Both are optional (the ``bench`` extra): :func:`availability` says which are installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import msgspec

from factstr import NewEvent

from .model import BenchFailure
from .procs import free_port, stop_process
from .systems import Following, Handler, Log, RecordLike, Selector, Spec, System, tags_of

PEER_NAMES = ("umadb", "eventsourcing")
PEER_TITLES = {"umadb": "UmaDB", "eventsourcing": "eventsourcing (PG)"}
PEER_PACKAGES = {"umadb": "umadb", "eventsourcing": "eventsourcing"}
SERVER_START_SECONDS = 20.0
SERVER_STOP_SECONDS = 10.0

_encode = msgspec.json.encode
_decode = msgspec.json.decode


class PeerRecord(msgspec.Struct, frozen=True, gc=False):
    """A peer's event as the scenarios read it: position, type, and the payload decoded from its JSON."""

    sequence_number: int
    event_type: str
    payload: Any


def availability() -> dict[str, str | None]:
    """For each peer: None when it can run here, or why not (``not installed``)."""
    status: dict[str, str | None] = {}
    for name in PEER_NAMES:
        module = PEER_PACKAGES[name]
        if importlib.util.find_spec(module) is None:
            status[name] = f"not installed (pip install -e '.[bench]', or `make bench-peers`; needs {module})"
        else:
            status[name] = None
    if status["eventsourcing"] is None and importlib.util.find_spec("eventsourcing.dcb.postgres_tt") is None:
        status["eventsourcing"] = "not installed: this eventsourcing has no DCB recorder for PostgreSQL (needs 9.5)"
    return status


def version(name: str) -> str:
    try:
        return metadata.version(PEER_PACKAGES[name])
    except metadata.PackageNotFoundError:
        return "not installed"


def make_peer(name: str, *, postgres_url: str, writers: int) -> System:
    """Create the peer called ``name`` (raises BenchFailure when it is installed but cannot start)."""
    if name == "umadb":
        return UmaDBSystem()
    if name == "eventsourcing":
        return EventsourcingSystem(postgres_url, writers=writers)
    raise ValueError(f"unknown peer {name!r} (choose from {', '.join(PEER_NAMES)})")


def open_peer_log(spec: Spec) -> Log:
    """Open a peer's log in this process from its ``spec`` (a subprocess writer)."""
    if spec["system"] == "umadb":
        umadb = importlib.import_module("umadb")
        return UmaDBLog(umadb.Client(spec["url"]), spec)
    if spec["system"] == "eventsourcing":
        return EventsourcingLog.connect(spec)
    raise ValueError(f"unknown system in spec: {spec!r}")


# --- UmaDB -----------------------------------------------------------------------------------------------


class UmaDBServer:
    """One ``umadb`` server process on a free loopback port, with its own database directory."""

    def __init__(self, binary: Path, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True)
        self._output = (directory / "server.log").open("wb")
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        for _ in range(5):
            port = free_port()
            process = subprocess.Popen(
                [str(binary), "--listen", f"127.0.0.1:{port}", "--db-path", str(directory / "uma.db")],
                stdin=subprocess.DEVNULL,
                stdout=self._output,
                stderr=subprocess.STDOUT,
            )
            if _wait_listening(process, port):
                self.process = process
                self.url = f"http://127.0.0.1:{port}"
                return
            stop_process(process, SERVER_STOP_SECONDS)  # another process took the port first: try another one
        raise BenchFailure(f"the UmaDB server did not start; its output:\n{self.output()}")

    @property
    def pid(self) -> int:
        return self.process.pid if self.process is not None else 0

    def output(self) -> str:
        self._output.flush()
        return (self.directory / "server.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, SERVER_STOP_SECONDS)
            self.process = None
        self._output.close()


def _wait_listening(process: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class UmaDBLog(Log):
    """A log on an UmaDB server, through the ``umadb`` Python client (gRPC)."""

    def __init__(self, client: Any, spec: Spec, server: UmaDBServer | None = None) -> None:
        self._umadb = importlib.import_module("umadb")
        self._client = client
        self._server = server
        self.spec = spec

    def _events(self, events: Sequence[NewEvent]) -> list[Any]:
        event = self._umadb.Event
        return [event(e.event_type, _encode(e.payload), tags=tags_of(e.payload)) for e in events]

    def _query(self, selector: Selector) -> Any:
        umadb = self._umadb
        return umadb.Query([umadb.QueryItem(types=list(selector.types), tags=[selector.tag])])

    def append(self, events: Sequence[NewEvent]) -> int:
        return int(self._client.append(self._events(events)))

    def read(self, selector: Selector) -> tuple[Sequence[RecordLike], int | None]:
        events, head = self._client.read(self._query(selector)).collect_with_head()
        return _uma_records(events), None if head is None else int(head)

    def append_if(self, events: Sequence[NewEvent], selector: Selector, after: int | None) -> int | None:
        condition = self._umadb.AppendCondition(self._query(selector), after=after)
        try:
            return int(self._client.append(self._events(events), condition))
        except self._umadb.IntegrityError:
            return None

    def page(self, after: int, limit: int) -> Sequence[RecordLike]:
        return _uma_records(self._client.read(start=after + 1, limit=limit).collect_with_head()[0])

    def head(self) -> int:
        head = self._client.head()
        return 0 if head is None else int(head)

    def head_round_trip(self) -> int | None:
        """One ``Head`` request (B10)."""
        head = self._client.head()
        return None if head is None else int(head)

    def follow(self, handler: Handler) -> Following:
        return _UmaDBFollowing(self._client.subscribe(after=self.head()), handler, self._umadb.CancelledByUserError)

    def close(self) -> None:
        self._client.close()
        if self._server is not None:
            self._server.stop()
            self._server = None


def _uma_records(events: Sequence[Any]) -> list[PeerRecord]:
    return [
        PeerRecord(event.position, event.event.event_type, _decode(event.event.data) if event.event.data else None)
        for event in events
    ]


class _UmaDBFollowing:
    """A thread iterating an UmaDB subscription; ``stop`` cancels it."""

    def __init__(self, subscription: Any, handler: Handler, cancelled: type[BaseException]) -> None:
        self._subscription = subscription
        self._handler = handler
        self._cancelled = cancelled
        self._stopping = False
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bench-umadb-follow", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                batch = self._subscription.next_batch()
                if not batch:
                    return
                self._handler(_uma_records(batch))
        except self._cancelled:
            return
        except BaseException as exc:
            if not self._stopping:
                self.failure = exc

    def stop(self) -> None:
        self._stopping = True
        self._subscription.cancel()
        self._thread.join(SERVER_STOP_SECONDS)


class UmaDBSystem(System):
    """UmaDB: one server per log, on a free loopback port, in a scratch directory."""

    kind = "peer"
    key = "umadb"
    name = "UmaDB"

    def __init__(self) -> None:
        super().__init__()
        self._umadb = importlib.import_module("umadb")
        binary = Path(sys.executable).parent / "umadb"
        found = str(binary) if binary.exists() else shutil.which("umadb")
        if found is None:
            raise BenchFailure("the umadb package is installed but its `umadb` server command is not found")
        self._binary = Path(found)
        self._directory = Path(tempfile.mkdtemp(prefix="factstr-bench-umadb-"))
        self._servers: list[UmaDBServer] = []

    def _open(self, label: str) -> Log:
        server = UmaDBServer(self._binary, self._directory / label)
        self._servers.append(server)
        client = self._umadb.Client(server.url)
        return UmaDBLog(client, {"system": "umadb", "url": server.url}, server)

    def settings(self) -> dict[str, str]:
        return {
            "version": f"umadb {version('umadb')} (server and Python client from the wheel)",
            "durability": "server defaults: synchronous writes, file I/O reads, no page cache; one server per log "
            "on 127.0.0.1, stopped by PID at the end",
            "directory": str(self._directory),
        }

    def close(self) -> None:
        try:
            super().close()
        finally:
            for server in self._servers:
                server.stop()
            self._servers.clear()
            shutil.rmtree(self._directory, ignore_errors=True)


# --- eventsourcing ---------------------------------------------------------------------------------------


class EventsourcingLog(Log):
    """A log of eventsourcing's DCB recorder on PostgreSQL (``PostgresDCBRecorderTT``) in its own database."""

    def __init__(self, datastore: Any, recorder: Any, spec: Spec) -> None:
        self._api = importlib.import_module("eventsourcing.dcb.api")
        self._integrity_error = importlib.import_module("eventsourcing.persistence").IntegrityError
        self._datastore = datastore
        self._recorder = recorder
        self.spec = spec

    @classmethod
    def connect(cls, spec: Spec, *, create: bool = False) -> EventsourcingLog:
        postgres = importlib.import_module("eventsourcing.postgres")
        recorders = importlib.import_module("eventsourcing.dcb.postgres_tt")
        datastore = postgres.PostgresDatastore(
            spec["dbname"],
            spec["host"],
            spec["port"],
            spec["user"],
            spec["password"],
            pool_size=1,
            max_overflow=int(spec["max_overflow"]),
        )
        recorder = recorders.PostgresDCBRecorderTT(datastore, events_table_name="bench_events")
        if create:
            recorder.create_table()
        return cls(datastore, recorder, spec)

    def _events(self, events: Sequence[NewEvent]) -> list[Any]:
        event = self._api.DCBEvent
        return [event(e.event_type, _encode(e.payload), tags_of(e.payload)) for e in events]

    def _query(self, selector: Selector) -> Any:
        api = self._api
        return api.DCBQuery([api.DCBQueryItem(list(selector.types), [selector.tag])])

    def append(self, events: Sequence[NewEvent]) -> int:
        return int(self._recorder.append(self._events(events)))

    def read(self, selector: Selector) -> tuple[Sequence[RecordLike], int | None]:
        response = self._recorder.read(self._query(selector))
        records = _es_records(response)
        head = response.head
        return records, None if head is None else int(head)

    def append_if(self, events: Sequence[NewEvent], selector: Selector, after: int | None) -> int | None:
        condition = self._api.DCBAppendCondition(self._query(selector), after)
        try:
            return int(self._recorder.append(self._events(events), condition))
        except self._integrity_error:
            return None

    def page(self, after: int, limit: int) -> Sequence[RecordLike]:
        return _es_records(self._recorder.read(None, after=after, limit=limit))

    def head(self) -> int:
        # The recorder has no head query of its own: an empty read after the end carries it.
        head = self._recorder.read(None, after=2**62).head
        return 0 if head is None else int(head)

    def follow(self, handler: Handler) -> Following:
        return _EventsourcingFollowing(self._recorder.subscribe(None, after=self.head()), handler)

    def close(self) -> None:
        self._datastore.close()


def _es_records(events: Any) -> list[PeerRecord]:
    return [
        PeerRecord(event.position, event.event.type, _decode(event.event.data) if event.event.data else None)
        for event in events
    ]


class _EventsourcingFollowing:
    """A thread iterating an eventsourcing subscription (LISTEN/NOTIFY); ``stop`` ends it."""

    def __init__(self, subscription: Any, handler: Handler) -> None:
        self._subscription = subscription
        self._handler = handler
        self.failure: BaseException | None = None
        subscription.__enter__()
        self._thread = threading.Thread(target=self._run, name="bench-eventsourcing-follow", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self._subscription:
                self._handler(_es_records([event]))
        except BaseException as exc:
            self.failure = exc

    def stop(self) -> None:
        self._subscription.__exit__(None, None, None)
        self._thread.join(SERVER_STOP_SECONDS)


class EventsourcingSystem(System):
    """eventsourcing's DCB recorder on PostgreSQL: a scratch database per log, created and dropped here.

    One database per log, because the recorder's append functions have the same name for every table and its
    tag table refers to the event table by an unqualified name (so neither tables nor schemas can share one).
    """

    kind = "peer"
    key = "eventsourcing"
    name = "eventsourcing (PG)"

    def __init__(self, postgres_url: str, *, writers: int) -> None:
        super().__init__()
        import psycopg
        from psycopg import conninfo

        self._url = postgres_url
        self._prefix = f"factstr_bench_es_{os.getpid()}_{secrets.token_hex(3)}"
        self._databases: list[str] = []
        parts = conninfo.conninfo_to_dict(postgres_url)
        self._connection = {
            "host": str(parts.get("host") or "127.0.0.1"),
            "port": str(parts.get("port") or "5432"),
            "user": str(parts.get("user") or "postgres"),
            "password": str(parts.get("password") or ""),
            # Threads share one datastore: up to one connection per writer thread, plus a follower's two.
            "max_overflow": writers + 3,
        }
        try:
            with psycopg.connect(postgres_url, connect_timeout=5, autocommit=True) as connection:
                row = connection.execute("SHOW server_version").fetchone()
                self._server_version = str(row[0]) if row else "?"
        except psycopg.Error as exc:
            raise BenchFailure(f"eventsourcing: PostgreSQL at {postgres_url} cannot be reached: {exc}") from exc

    def _open(self, label: str) -> Log:
        import psycopg
        from psycopg import sql

        dbname = f"{self._prefix}_{label.replace('-', '_')}"
        with psycopg.connect(self._url, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        self._databases.append(dbname)
        spec: Spec = {"system": "eventsourcing", "dbname": dbname, **self._connection}
        return EventsourcingLog.connect(spec, create=True)

    def settings(self) -> dict[str, str]:
        return {
            "version": f"eventsourcing {version('eventsourcing')}, PostgresDCBRecorderTT, "
            f"PostgreSQL {self._server_version}",
            "durability": "server defaults (the same PostgreSQL server as FACTSTR's PostgreSQL store)",
            "databases": f"{self._prefix}_* (one per log, created and dropped by the harness)",
        }

    def close(self) -> None:
        import psycopg
        from psycopg import sql

        try:
            super().close()
        finally:
            with psycopg.connect(self._url, autocommit=True) as connection:
                for dbname in self._databases:
                    connection.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
                    )
            self._databases.clear()
