"""Stream scenarios: B7 append -> handler latency (in-process and from another process), B8 durable replay."""

from __future__ import annotations

import threading
import time

from factstr import EventRecord

from .data import latency_event
from .model import Result, check
from .procs import run_job, run_together
from .session import Session
from .stats import median, percentile

PROBE_INTERVAL = 0.01
WAIT_SECONDS = 30.0
# B8: peak RSS "independent of N" means the replay's own growth at N exceeds that at the small size by less
# than this (noise in RSS sampling is a few hundred KiB; a per-event leak of 100 B at 100k events is 10 MB).
RSS_MARGIN_BYTES = 8 * 2**20


def b7(session: Session) -> Result:
    """B7: wall-clock time from just before ``append`` to the live handler's call, per event."""
    settings = session.settings
    opened = session.fresh("b7-latency")
    store = opened.store
    received: list[float] = []
    lock = threading.Lock()

    delivered: dict[int, float] = {}

    def handler(batch: list[EventRecord]) -> None:
        now = time.time()
        with lock:
            received.extend(now - float(record.payload["sent_at"]) for record in batch)
            delivered.update((int(record.payload["index"]), now) for record in batch)

    local_p50, local_p99, commit_p50, after_p50, after_p99 = [], [], [], [], []
    remote_p50, remote_p99 = [], []
    sent = 0
    with store.stream_all(handler) as stream:
        for _ in range(settings.repeat):
            with lock:
                received.clear()
            commits: list[float] = []
            after_return: list[float] = []
            deadline = time.perf_counter() + settings.duration
            count = 0
            while time.perf_counter() < deadline or count < 5:
                sent_at = time.time()
                started = time.perf_counter()
                appended = store.append([latency_event(sent_at, sent)])
                returned = time.time()
                commits.append(time.perf_counter() - started)
                check(
                    stream.wait_until(appended.last_sequence_number, timeout=WAIT_SECONDS),
                    f"B7: event {appended.last_sequence_number} did not reach the live handler in {WAIT_SECONDS} s "
                    f"(stream failure: {stream.failure!r})",
                )
                with lock:
                    after_return.append(max(0.0, delivered[sent] - returned))
                sent += 1
                count += 1
            with lock:
                samples = list(received)
            check(len(samples) == count, f"B7: the handler got {len(samples)} events of {count} appended")
            local_p50.append(percentile(samples, 50))
            local_p99.append(percentile(samples, 99))
            commit_p50.append(percentile(commits, 50))
            after_p50.append(percentile(after_return, 50))
            after_p99.append(percentile(after_return, 99))
            if session.target.shares_database:
                with lock:
                    received.clear()
                probes = max(10, int(settings.duration / PROBE_INTERVAL))
                job = {
                    "kind": "probe",
                    "url": opened.url,
                    "options": opened.options,
                    "count": probes,
                    "interval": PROBE_INTERVAL,
                }
                _, (remote,) = run_together([job])
                last = int(remote["last_sequence_number"])
                check(
                    stream.wait_until(last, timeout=WAIT_SECONDS),
                    f"B7: events appended by another process did not reach the live handler "
                    f"in {WAIT_SECONDS} s "
                    f"(got {len(received)} of {probes}; stream failure: {stream.failure!r})",
                )
                with lock:
                    samples = list(received)
                check(len(samples) == probes, f"B7: {len(samples)} of {probes} cross-process events delivered")
                remote_p50.append(percentile(samples, 50))
                remote_p99.append(percentile(samples, 99))
    result = Result("B7", session.target.name)
    result.figure = f"in-process p50/p99 {_ms(median(local_p50))}/{_ms(median(local_p99))}"
    result.metrics = {
        "in_process_p50_ms": median(local_p50) * 1e3,
        "in_process_p99_ms": median(local_p99) * 1e3,
        "append_p50_ms": median(commit_p50) * 1e3,
        "after_append_returned_p50_ms": median(after_p50) * 1e3,
        "after_append_returned_p99_ms": median(after_p99) * 1e3,
    }
    result.ratio = (
        f"of which append (commit) p50 {_ms(median(commit_p50))}; "
        f"from append's return p50/p99 {_ms(median(after_p50))}/{_ms(median(after_p99))}"
    )
    result.target = "in-process p50 <= 1 ms, p99 <= 5 ms"
    result.met = median(local_p50) <= 0.001 and median(local_p99) <= 0.005
    if remote_p50:
        result.figure += f"; other process p50/p99 {_ms(median(remote_p50))}/{_ms(median(remote_p99))}"
        result.metrics.update(
            other_process_p50_ms=median(remote_p50) * 1e3, other_process_p99_ms=median(remote_p99) * 1e3
        )
        result.target += "; other process p99 <= 50 ms"
        result.met = result.met and median(remote_p99) <= 0.050
    return result


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def b8(session: Session) -> Result:
    """B8: durable replay of the whole history into a counting handler, in a fresh process per size."""
    settings = session.settings
    rates: dict[int, float] = {}
    peaks: dict[int, int] = {}
    growths: dict[int, int] = {}
    for size in session.sizes:
        job: dict[str, object] = {"kind": "replay"}
        if session.target.shares_database:
            opened = session.history(size)
            job.update(url=opened.url, options=opened.options)
        else:
            job.update(fill=size)
        size_rates, size_peaks, size_growths = [], [], []
        for _ in range(settings.repeat):
            replay = run_job(job)
            head = int(replay["head"])
            check(head >= size, f"B8 @{size}: the log holds {head} events, expected at least {size}")
            check(
                int(replay["count"]) == head and bool(replay["in_order"]),
                f"B8 @{size}: replay delivered {replay['count']} events of {head} "
                f"(in order and gapless: {replay['in_order']})",
            )
            size_rates.append(head / float(replay["seconds"]))
            size_peaks.append(int(replay["peak_rss_kib"]) * 1024)
            size_growths.append((int(replay["replay_peak_rss_kib"]) - int(replay["rss_before_kib"])) * 1024)
        rates[size] = median(size_rates)
        peaks[size] = max(size_peaks)
        growths[size] = int(median([float(g) for g in size_growths]))
    small, large = session.sizes
    slope = (growths[large] - growths[small]) / max(large - small, 1)
    result = Result("B8", session.target.name)
    result.figure = f"{rates[small]:,.0f} events/s @{small:,}; {rates[large]:,.0f} events/s @{large:,}"
    result.ratio = (
        f"peak RSS (VmHWM) {_mib(peaks[small])} @{small:,}, {_mib(peaks[large])} @{large:,}; "
        f"the replay itself adds {_mib(growths[small])} @{small:,}, {_mib(growths[large])} @{large:,} "
        f"({slope:+.0f} B per extra event)"
    )
    result.metrics = {
        "events_per_second_small": rates[small],
        "events_per_second_n": rates[large],
        "peak_rss_bytes_small": peaks[small],
        "peak_rss_bytes_n": peaks[large],
        "replay_rss_growth_bytes_small": growths[small],
        "replay_rss_growth_bytes_n": growths[large],
        "rss_growth_bytes_per_extra_event": slope,
    }
    result.target = f">= 100k events/s; RSS independent of N (replay growth @N within {_mib(RSS_MARGIN_BYTES)})"
    result.met = min(rates.values()) >= 100_000 and growths[large] - growths[small] <= RSS_MARGIN_BYTES
    if not session.target.shares_database:
        result.note = "Memory: the subprocess fills its own store first; the replay's own growth is what counts"
    return result


def _mib(size: float) -> str:
    return f"{size / 2**20:.1f} MiB"
