"""Several processes on one PostgreSQL schema: commits reach other processes' streams; holds are exclusive."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from factstr import DurableStreamActive, EventQuery, EventRecord
from factstr.postgres import PostgresStore

from .conftest import OpenStore

APPENDER = """
import sys, factstr
with factstr.connect(sys.argv[1]) as store:
    for batch in range(int(sys.argv[2])):
        store.append([factstr.NewEvent("from-b", {"batch": batch, "index": i}) for i in range(batch % 3 + 1)])
"""

HOLDER = """
import sys, factstr
store = factstr.connect(sys.argv[1])
store.stream_all_durable(sys.argv[2], lambda batch: None)
print("held", flush=True)
sys.stdin.read()
"""


def run_python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


@pytest.fixture
def holder(url: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Another process holding the durable name "shared"; killed (at the latest) after the test."""
    process = run_python(HOLDER, url, "shared")
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "held"
        yield process, "shared"
    finally:
        process.kill()
        process.communicate()


def test_a_stream_receives_batches_committed_by_another_process(open_store: OpenStore, url: str) -> None:
    # A long safety poll: delivery within the test's time relies on LISTEN/NOTIFY.
    store = open_store(poll_interval=60.0)
    received: list[list[EventRecord]] = []
    lock = threading.Lock()

    def handler(batch: list[EventRecord]) -> None:
        with lock:
            received.append(batch)

    with store.stream_all(handler) as stream:
        appender = run_python(APPENDER, url, "20")
        appender.communicate(timeout=60)
        assert appender.returncode == 0
        head = store.head()
        assert head is not None
        assert stream.wait_until(head, timeout=20)
    assert [[record.payload["batch"] for record in batch] for batch in received] == [
        [batch] * (batch % 3 + 1) for batch in range(20)
    ]
    numbers = [record.sequence_number for batch in received for record in batch]
    assert numbers == list(range(1, head + 1))


def test_a_durable_name_has_one_holder_across_processes(
    store: PostgresStore, holder: tuple[subprocess.Popen[str], str]
) -> None:
    _, name = holder
    with pytest.raises(DurableStreamActive):
        store.stream_all_durable(name, lambda batch: None)
    info = store.durable_stream(name)
    assert info is not None and info.active


def test_the_hold_is_released_when_the_holder_process_dies(
    store: PostgresStore, holder: tuple[subprocess.Popen[str], str]
) -> None:
    process, name = holder
    process.kill()
    process.wait()
    deadline = time.monotonic() + 10
    while True:
        try:
            stream = store.stream_all_durable(name, lambda batch: None)
            break
        except DurableStreamActive:
            assert time.monotonic() < deadline, "the dead holder's hold was not released"
            time.sleep(0.05)
    with stream:
        info = store.durable_stream(name)
        assert info is not None and info.active


def test_append_if_is_atomic_across_processes(store: PostgresStore, url: str) -> None:
    racer = """
import sys, factstr
from factstr import EventQuery, EventFilter, NewEvent, ConditionalAppendConflict
context = EventQuery(filters=[EventFilter(event_types=["claim"])])
wins = 0
with factstr.connect(sys.argv[1]) as store:
    for _ in range(30):
        version = store.query(context).current_context_version
        try:
            store.append_if([NewEvent("claim", {"by": sys.argv[2]})], context, version)
            wins += 1
        except ConditionalAppendConflict:
            pass
print(wins)
"""
    racers = [run_python(racer, url, str(index)) for index in range(3)]
    wins = 0
    for process in racers:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        wins += int(out)
    records = store.query(EventQuery()).event_records
    assert len(records) == wins
    assert [record.sequence_number for record in records] == list(range(1, wins + 1))
