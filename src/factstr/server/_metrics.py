"""Prometheus metrics in the text exposition format, kept by hand (no client library needed).

Counters only grow for the life of the process; the durable-stream gauges are read from the store at scrape
time, so they are right for cursors held by any process on the same database. Request labels come from closed
sets (route templates, known methods, status classes): nothing a client sends can add a series.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

from .._model import DurableStreamInfo

# Request latency buckets in seconds: from a cached read to a slow conditional append on a busy database.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The route label of a request that matched no route (its path is the client's choice, so it is no label).
UNMATCHED = "unmatched"


def method_label(method: str) -> str:
    """The method as a label: a known method, else ``other``."""
    return method if method in KNOWN_METHODS else "other"


def status_label(status: int | None) -> str:
    """The status class as a label (``2xx`` ... ``5xx``), or ``none`` when the client left before an answer."""
    if status is None:
        return "none"
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """The counters and histograms of one server process. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.appends = 0
        self.append_conflicts = 0
        self.events_appended = 0
        self.batches_streamed = 0
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self._latency_buckets: dict[str, list[int]] = {}
        self._latency_sum: dict[str, float] = defaultdict(float)
        self._latency_count: dict[str, int] = defaultdict(int)

    def committed(self, events: int) -> None:
        """Count one committed append of ``events`` events."""
        with self._lock:
            self.appends += 1
            self.events_appended += events

    def conflicted(self) -> None:
        """Count one conditional append that met a changed context."""
        with self._lock:
            self.append_conflicts += 1

    def streamed(self) -> None:
        """Count one batch sent to a stream client."""
        with self._lock:
            self.batches_streamed += 1

    def observe(self, route: str, method: str, status: int | None, seconds: float | None) -> None:
        """Record one finished request, and its latency unless ``seconds`` is None (event streams).

        ``route`` is a route template (or :data:`UNMATCHED`), never a request path; ``status`` is None when
        no answer was sent (the client went away).
        """
        key = (route, method_label(method), status_label(status))
        with self._lock:
            self._requests[key] += 1
            if seconds is None:
                return
            buckets = self._latency_buckets.get(route)
            if buckets is None:
                buckets = self._latency_buckets[route] = [0] * len(LATENCY_BUCKETS)
            index = bisect.bisect_left(LATENCY_BUCKETS, seconds)
            for i in range(index, len(buckets)):
                buckets[i] += 1
            self._latency_sum[route] += seconds
            self._latency_count[route] += 1

    def render(self, *, head: int | None, open_streams: dict[str, int], durable: list[DurableStreamInfo]) -> str:
        """Return the exposition text."""
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")

        with self._lock:
            family("factstr_appends_total", "counter", "Committed appends (append and append_if).")
            lines.append(f"factstr_appends_total {self.appends}")
            family("factstr_append_conflicts_total", "counter", "Conditional appends refused by a conflict.")
            lines.append(f"factstr_append_conflicts_total {self.append_conflicts}")
            family("factstr_events_appended_total", "counter", "Events committed through this server.")
            lines.append(f"factstr_events_appended_total {self.events_appended}")
            family("factstr_stream_batches_sent_total", "counter", "Batches sent to stream clients.")
            lines.append(f"factstr_stream_batches_sent_total {self.batches_streamed}")
            family("factstr_http_requests_total", "counter", "Finished HTTP requests.")
            for (route, method, status), count in sorted(self._requests.items()):
                labels = f'route="{_label(route)}",method="{method}",status="{status}"'
                lines.append(f"factstr_http_requests_total{{{labels}}} {count}")
            family("factstr_http_request_duration_seconds", "histogram", "HTTP request latency.")
            for route in sorted(self._latency_buckets):
                label = _label(route)
                for bound, count in zip(LATENCY_BUCKETS, self._latency_buckets[route], strict=True):
                    bucket = f'route="{label}",le="{bound}"'
                    lines.append(f"factstr_http_request_duration_seconds_bucket{{{bucket}}} {count}")
                total = self._latency_count[route]
                lines.append(f'factstr_http_request_duration_seconds_bucket{{route="{label}",le="+Inf"}} {total}')
                lines.append(f'factstr_http_request_duration_seconds_sum{{route="{label}"}} {self._latency_sum[route]}')
                lines.append(f'factstr_http_request_duration_seconds_count{{route="{label}"}} {total}')
        family("factstr_head", "gauge", "The highest committed sequence number (0: empty log).")
        lines.append(f"factstr_head {head or 0}")
        family("factstr_open_streams", "gauge", "Streams open on this server.")
        for kind, count in sorted(open_streams.items()):
            lines.append(f'factstr_open_streams{{kind="{kind}"}} {count}')
        family("factstr_durable_stream_lag", "gauge", "Events between a durable cursor and the head.")
        for info in durable:
            lines.append(f'factstr_durable_stream_lag{{name="{_label(info.name)}"}} {info.lag}')
        family("factstr_durable_stream_active", "gauge", "1 while a durable name is held somewhere.")
        for info in durable:
            lines.append(f'factstr_durable_stream_active{{name="{_label(info.name)}"}} {int(info.active)}')
        return "\n".join(lines) + "\n"
