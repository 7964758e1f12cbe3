"""The subprocess side of the harness: ``python -m bench.worker '<json job>'`` (see ``bench.procs``).

Jobs: ``decide`` (a B4 writer), ``reserve`` (a B4c writer), ``probe`` (B7's other-process appender),
``replay`` (B8: a durable replay with peak RSS), ``footprint`` (B9: the Memory store's bytes per event);
``log-decide``, ``log-reserve`` and ``log-probe`` do the same as the first three on any system's log (the
side-by-side run with the peers, ``bench.side``).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import threading
import time
import tracemalloc
from typing import Any

import factstr
from factstr import EventRecord, EventStore

from . import side_ops
from .data import fill, latency_event
from .systems import Log, open_log
from .writes import decide_until, reserve_until


def main(argv: list[str]) -> int:
    job: dict[str, Any] = json.loads(argv[1])
    kind = job["kind"]
    if kind in ("decide", "reserve", "probe"):
        with _open(job) as store:
            _say("ready")
            start_at = float(sys.stdin.readline())
            time.sleep(max(0.0, start_at - time.time()))
            result = _synchronised(kind, job, store, start_at)
    elif kind in ("log-decide", "log-reserve", "log-probe"):
        log = open_log(job["log"])
        try:
            _say("ready")
            start_at = float(sys.stdin.readline())
            time.sleep(max(0.0, start_at - time.time()))
            result = _on_log(kind, job, log, start_at)
        finally:
            log.close()
    elif kind == "replay":
        result = _replay(job)
    elif kind == "footprint":
        _say("ready")
        result = _footprint(job)
    else:
        raise SystemExit(f"unknown job kind {kind!r}")
    _say(json.dumps(result))
    return 0


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _open(job: dict[str, Any]) -> EventStore:
    return factstr.connect(job["url"], **job.get("options", {}))


def _synchronised(kind: str, job: dict[str, Any], store: EventStore, start_at: float) -> dict[str, Any]:
    if kind == "decide":
        ops, conflicts = decide_until(store, job["accounts"], job["writer"], start_at + job["duration"])
        return {"ops": ops, "conflicts": conflicts, "finished_at": time.time()}
    if kind == "reserve":
        ops, conflicts = reserve_until(store, job["counter"], job["limit"], job["writer"], start_at + job["duration"])
        return {"ops": ops, "conflicts": conflicts, "finished_at": time.time()}
    last = 0
    for index in range(job["count"]):
        last = store.append([latency_event(time.time(), index)]).last_sequence_number
        time.sleep(job["interval"])
    return {"last_sequence_number": last}


def _on_log(kind: str, job: dict[str, Any], log: Log, start_at: float) -> dict[str, Any]:
    deadline = start_at + job.get("duration", 0.0)
    if kind == "log-decide":
        ops, conflicts = side_ops.decide_until(log, job["accounts"], job["writer"], deadline)
        return {"ops": ops, "conflicts": conflicts, "finished_at": time.time()}
    if kind == "log-reserve":
        ops, conflicts = side_ops.reserve_until(log, job["counter"], job["limit"], job["writer"], deadline)
        return {"ops": ops, "conflicts": conflicts, "finished_at": time.time()}
    last = 0
    for index in range(job["count"]):
        last = log.append([latency_event(time.time(), index)])
        time.sleep(job["interval"])
    return {"last_sequence_number": last}


def _peak_rss_kib() -> int:
    """This process's peak resident set (VmHWM), in KiB.

    ``getrusage().ru_maxrss`` is not used on Linux: a child started by fork+exec inherits the parent's
    high-water mark, so a parent holding a large Memory store would show up in every child's figure.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _replay(job: dict[str, Any]) -> dict[str, Any]:
    if "url" in job:
        store = _open(job)
    else:
        store = factstr.MemoryStore()
        fill(store, job["fill"], "memory replay", quiet=True)
    with store:
        head = store.head() or 0
        gc.collect()
        _say("ready")
        rss_before = _current_rss_kib()
        count = 0
        last = 0
        in_order = True

        def handler(batch: list[EventRecord]) -> None:
            nonlocal count, last, in_order
            for record in batch:
                if record.sequence_number != last + 1:
                    in_order = False
                last = record.sequence_number
            count += len(batch)

        name = f"bench-replay-{os.getpid()}-{time.time_ns()}"
        sampler = _RSSSampler()
        sampler.start()
        started = time.perf_counter()
        stream = store.stream_all_durable(name, handler)
        finished = stream.wait_until(head, timeout=600)
        seconds = time.perf_counter() - started
        stream.unsubscribe()
        sampler.stop()
        store.delete_durable_stream(name)
        return {
            "head": head,
            "count": count,
            "in_order": in_order and finished,
            "seconds": seconds,
            "rss_before_kib": rss_before,
            "replay_peak_rss_kib": max(sampler.peak_kib, rss_before),
            "peak_rss_kib": _peak_rss_kib(),
        }


class _RSSSampler:
    """Samples the resident set every few milliseconds: the peak of the replay alone, not of start-up."""

    def __init__(self) -> None:
        self.peak_kib = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()
        self.peak_kib = max(self.peak_kib, _current_rss_kib())

    def _run(self) -> None:
        while not self._stopped.wait(0.002):
            self.peak_kib = max(self.peak_kib, _current_rss_kib())


def _current_rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _footprint(job: dict[str, Any]) -> dict[str, Any]:
    size = job["size"]
    traced = job["mode"] == "tracemalloc"
    if traced:
        tracemalloc.start()
    gc.collect()
    before = tracemalloc.get_traced_memory()[0] if traced else _current_rss_kib() * 1024
    store = factstr.MemoryStore()
    fill(store, size, "memory footprint", batch=100, quiet=True)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0] if traced else _current_rss_kib() * 1024
    head = store.head() or 0
    store.close()
    return {"bytes": after - before, "head": head}


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
