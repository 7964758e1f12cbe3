"""A durable name has one holder even when PostgreSQL ends the session that holds it (issue 11, item 1).

The advisory lock of a hold dies with its session: a server restart, a cut connection, a terminated backend.
Another process may then take the name. The stream that held it must take it back before it handles
anything else, or stop with DurableStreamLost; it must never handle a batch while another holder has it.
The fast tests end the hold's session with pg_terminate_backend on the shared server; the last one restarts
a cluster of its own under two processes.
"""

from __future__ import annotations

import logging
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from factstr import BackendError, DurableStreamActive, DurableStreamLost, EventRecord, NewEvent
from factstr._notify import Notifier
from factstr.postgres import PostgresStore

from .cluster import own_cluster
from .conftest import OpenStore

Admin = psycopg.Connection[Any]
WAIT = 15.0
QUIET = 600.0  # a safety poll that never comes during a test
OUTAGE_SECONDS = 2.0

HELD_BY = """
SELECT l.pid FROM pg_locks l
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = %s::bigint::oid
  AND l.objid = %s::bigint::oid
"""


def wait_for(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


class Handled:
    """A handler that records sequence numbers, and an on_error callback that records failures."""

    def __init__(self) -> None:
        self.numbers: list[int] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()

    def __call__(self, batch: list[EventRecord]) -> None:
        with self._lock:
            self.numbers.extend(record.sequence_number for record in batch)

    def on_error(self, error: BaseException) -> None:
        self.errors.append(error)


class WatchedNotifier(Notifier):
    """A store's notifier that tells when the stream worker sleeps on it, waiting for a wake-up."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeping = threading.Event()

    def notify(self) -> None:
        with self._condition:
            self.sleeping.clear()
            super().notify()

    def wait(self, seen: int, timeout: float) -> None:
        with self._condition:
            if self._version == seen:
                self.sleeping.set()  # under the lock, which only the wait below gives up
                self._condition.wait(timeout)


def quiet_store(open_store: OpenStore) -> tuple[PostgresStore, WatchedNotifier]:
    """A store whose stream wakes only when told (a commit, its listener), never by its safety poll."""
    store = open_store(poll_interval=QUIET)
    store.notifier = notifier = WatchedNotifier()
    return store, notifier


def wait_until_idle(store: PostgresStore, notifier: WatchedNotifier) -> None:
    """Wait until the store's listener woke the stream once after connecting, and the stream sleeps again.

    Afterwards the stream does nothing until a commit wakes it.
    """
    wait_for(lambda: store._listener is not None and store._listener.connected.is_set())
    wait_for(lambda: notifier.version() >= 1 and notifier.sleeping.is_set())


def holder_pids(admin: Admin, store: PostgresStore, name: str) -> list[int]:
    params = store._holds.is_held_sql_params(name)
    return [row[0] for row in admin.execute(HELD_BY, params).fetchall()]


def end_hold_session(admin: Admin, store: PostgresStore) -> int:
    """Terminate the session holding ``store``'s durable names and wait until the server has let go of it."""
    conn = store._holds._conn
    assert conn is not None
    pid = conn.info.backend_pid
    admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    wait_for(lambda: admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone() == (0,))
    return pid


def test_a_stream_takes_its_hold_back_when_its_session_ends_and_keeps_the_name(
    open_store: OpenStore, admin: Admin
) -> None:
    (a, notifier), b, writer = quiet_store(open_store), open_store(), open_store()
    handled = Handled()
    writer.append([NewEvent("t", 1)])
    with a.stream_all_durable("excl", handled, on_error=handled.on_error) as stream:
        assert stream.wait_until(1, WAIT)
        wait_until_idle(a, notifier)
        old = end_hold_session(admin, a)
        assert holder_pids(admin, a, "excl") == []
        writer.append([NewEvent("t", 2)])  # wakes the stream: it takes the name back before handling this
        assert stream.wait_until(2, WAIT)
        new_session = a._holds._conn
        assert new_session is not None and new_session.info.backend_pid != old
        assert holder_pids(admin, a, "excl") == [new_session.info.backend_pid]
        with pytest.raises(DurableStreamActive):
            b.stream_all_durable("excl", lambda batch: None)
        assert stream.running
    assert handled.numbers == [1, 2] and handled.errors == []
    info = writer.durable_stream("excl")
    assert info is not None and info.cursor == 2 and not info.active


def test_a_stream_whose_name_was_taken_meanwhile_stops_before_handling_another_batch(
    open_store: OpenStore, admin: Admin, caplog: pytest.LogCaptureFixture
) -> None:
    (a, notifier), b, writer = quiet_store(open_store), open_store(), open_store()
    first, second = Handled(), Handled()
    writer.append([NewEvent("t", 1)])
    stream = a.stream_all_durable("excl", first, on_error=first.on_error)
    assert stream.wait_until(1, WAIT)
    wait_until_idle(a, notifier)
    end_hold_session(admin, a)
    # The server let go of the name with the session, so another process takes it: that is correct. What
    # must not happen is that both handle batches.
    with caplog.at_level(logging.WARNING, logger="factstr"), b.stream_all_durable("excl", second) as taker:
        writer.append([NewEvent("t", 2)])
        assert taker.wait_until(2, WAIT)
        wait_for(lambda: not stream.running)
        with pytest.raises(DurableStreamLost):
            stream.wait_until(2, WAIT)
    assert first.numbers == [1] and second.numbers == [2]
    assert len(first.errors) == 1 and isinstance(first.errors[0], DurableStreamLost)
    assert stream.failure is first.errors[0]
    assert "another holder took the name" in str(stream.failure)
    assert any(
        record.levelno == logging.WARNING and "lost its hold" in record.getMessage() for record in caplog.records
    )


def test_a_stream_whose_cursor_moved_while_its_name_was_free_stops(open_store: OpenStore, admin: Admin) -> None:
    (a, notifier), writer = quiet_store(open_store), open_store()
    handled = Handled()
    writer.append([NewEvent("t", 1)])
    stream = a.stream_all_durable("excl", handled, on_error=handled.on_error)
    assert stream.wait_until(1, WAIT)
    wait_until_idle(a, notifier)
    end_hold_session(admin, a)
    # While the name is free, another holder comes and goes: here an operator's reset to replay everything.
    # The stream must not go on from its own position as if nothing happened: the stored cursor says so.
    writer.reset_durable_stream("excl", 0)
    writer.append([NewEvent("t", 2)])
    wait_for(lambda: not stream.running)
    assert handled.numbers == [1]
    assert isinstance(stream.failure, DurableStreamLost) and "stored cursor moved from 1 to 0" in str(stream.failure)
    info = writer.durable_stream("excl")
    assert info is not None and info.cursor is None and not info.active


def test_a_stream_handles_nothing_while_the_server_is_down_and_goes_on_after(open_store: OpenStore) -> None:
    # The same path as a restart, without one: the hold's connection breaks and no new one can be opened.
    a, writer = open_store(poll_interval=0.05), open_store()
    handled = Handled()
    writer.append([NewEvent("t", 1)])
    with a.stream_all_durable("excl", handled, on_error=handled.on_error) as stream:
        assert stream.wait_until(1, WAIT)
        holds = a._holds
        real_connect = holds._connection
        refused = threading.Event()

        def unreachable() -> Any:
            refused.set()
            raise BackendError("cannot connect (simulated outage)")

        assert holds._conn is not None
        holds._conn.close()
        holds._connection = unreachable  # type: ignore[method-assign]
        writer.append([NewEvent("t", 2)])
        assert refused.wait(WAIT)
        time.sleep(0.3)
        assert handled.numbers == [1] and stream.running
        holds._connection = real_connect  # type: ignore[method-assign]
        assert stream.wait_until(2, WAIT)
    assert handled.numbers == [1, 2] and handled.errors == []


# --- a real restart, two processes ------------------------------------------------------------------------

PROCESS = """
import sys, time, factstr
url, mode = sys.argv[1], sys.argv[2]
store = factstr.connect(url)
def handle(batch):
    print("handled", *[record.sequence_number for record in batch], flush=True)
def failed(error):
    print("failed", type(error).__name__, flush=True)
if mode == "wait":
    print("ready", flush=True)
    sys.stdin.readline()
deadline = time.monotonic() + 30
while True:
    try:
        stream = store.stream_all_durable("excl", handle, on_error=failed)
        break
    except factstr.DurableStreamActive:
        print("active", flush=True)
        sys.exit(0)
    except factstr.BackendError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.01)  # the server is still restarting
print("held", flush=True)
sys.stdin.read()
"""


class Process:
    """A Python process registering "excl"; its output lines are collected by a thread."""

    def __init__(self, url: str, mode: str = "now") -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-c", PROCESS, url, mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.put(line.strip())

    def expect(self, *choices: str, timeout: float = WAIT) -> str:
        """Wait for the next line that starts with one of ``choices``; return it."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.001))
            self.seen.append(line)
            if line.startswith(choices):
                return line

    def handled(self) -> set[int]:
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return {int(number) for line in self.seen if line.startswith("handled") for number in line.split()[1:]}

    def tell(self, text: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(text + "\n")
        self.popen.stdin.flush()

    def stop(self) -> None:
        self.popen.kill()
        self.popen.wait()
        self._reader.join()
        for pipe in (self.popen.stdin, self.popen.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    try:
        yield started
    finally:
        for process in started:
            process.stop()


def append_when_up(store: PostgresStore, event: NewEvent) -> int:
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return store.append([event]).last_sequence_number
        except BackendError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_after_a_server_restart_a_durable_name_still_has_one_holder(processes: list[Process]) -> None:
    with own_cluster() as cluster:
        url = cluster.url()
        with PostgresStore(url) as writer:
            writer.append([NewEvent("t", 1)])
            a = Process(url)
            processes.append(a)
            a.expect("held")
            assert a.expect("handled") == "handled 1"

            # A restart ends every session: A takes its name back, and B, coming after, is refused.
            cluster.restart()
            wait_for(lambda: bool((info := writer.durable_stream("excl")) and info.active))
            b = Process(url)
            processes.append(b)
            assert b.expect("active", "held") == "active"
            append_when_up(writer, NewEvent("t", 2))
            assert a.expect("handled", "failed") == "handled 2"

            # B races A for the name when the server comes back after a while (A's reconnect backoff has
            # grown, B tries every 10 ms, so B usually wins). Whoever wins, no batch is handled by both, and
            # if B won, A stopped with DurableStreamLost before handling anything more.
            racer = Process(url, mode="wait")
            processes.append(racer)
            racer.expect("ready")
            cluster.stop()
            racer.tell("go")
            time.sleep(OUTAGE_SECONDS)
            cluster.start()
            outcome = racer.expect("active", "held")
            last = append_when_up(writer, NewEvent("t", 3))
            last = append_when_up(writer, NewEvent("t", 4))
            if outcome == "held":
                assert racer.expect("handled", timeout=WAIT) in ("handled 3", "handled 3 4")
                assert a.expect("failed", "handled") == "failed DurableStreamLost"
                wait_for(lambda: racer.handled() == {3, 4})
                assert a.handled() == {1, 2}
            else:
                wait_for(lambda: a.handled() == {1, 2, 3, 4})
                assert racer.handled() == set()
            assert last == 4
