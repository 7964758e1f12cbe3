"""Prometheus metrics in the text exposition format, kept by hand (no client library needed).

Counters only grow for the life of the process; the durable-stream gauges are read from the store at scrape
time, so they are right for cursors held by any process on the same database. Request labels come from closed
sets (existing namespaces, route templates, known methods, status classes): nothing a client sends can add a
series. Every series but the request counters of requests outside any namespace carries a ``namespace`` label.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from typing import NamedTuple

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


class NamespaceMetrics:
    """The counters one namespace's routes feed: a view of the server's :class:`Metrics` with its label."""

    def __init__(self, metrics: Metrics, namespace: str) -> None:
        self._metrics = metrics
        self._namespace = namespace

    def committed(self, events: int) -> None:
        """Count one committed append of ``events`` events."""
        self._metrics.count(self._namespace, appends=1, events=events)

    def conflicted(self) -> None:
        """Count one conditional append that met a changed context."""
        self._metrics.count(self._namespace, conflicts=1)

    def streamed(self) -> None:
        """Count one batch sent to a stream client."""
        self._metrics.count(self._namespace, batches=1)


class NamespaceGauges(NamedTuple):
    """What is read at scrape time for one open namespace."""

    head: int | None
    open_streams: dict[str, int]
    durable: list[DurableStreamInfo]


class Metrics:
    """The counters and histograms of one server process, labelled per namespace. Thread-safe.

    The ``namespace`` label of a request is the namespace it reached (an existing one), or ``""`` for requests
    outside any namespace (administration, probes, refused requests); the series of a dropped namespace are
    removed with it, so the label values are always the closed set of existing namespaces.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # namespace -> [appends, conflicts, events, batches]
        self._counters: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self._requests: dict[tuple[str, str, str, str], int] = defaultdict(int)
        self._latency_buckets: dict[tuple[str, str], list[int]] = {}
        self._latency_sum: dict[tuple[str, str], float] = defaultdict(float)
        self._latency_count: dict[tuple[str, str], int] = defaultdict(int)

    def of(self, namespace: str) -> NamespaceMetrics:
        """The view the routes of ``namespace`` count through."""
        return NamespaceMetrics(self, namespace)

    def count(self, namespace: str, *, appends: int = 0, conflicts: int = 0, events: int = 0, batches: int = 0) -> None:
        """Add to the counters of one namespace."""
        with self._lock:
            counters = self._counters[namespace]
            counters[0] += appends
            counters[1] += conflicts
            counters[2] += events
            counters[3] += batches

    def counters(self, namespace: str) -> tuple[int, int, int, int]:
        """Appends, conflicts, events appended and batches streamed so far in ``namespace``."""
        with self._lock:
            appends, conflicts, events, batches = self._counters.get(namespace, (0, 0, 0, 0))
            return appends, conflicts, events, batches

    def forget(self, namespace: str) -> None:
        """Remove every series of a dropped namespace."""
        with self._lock:
            self._counters.pop(namespace, None)
            for key in [key for key in self._requests if key[0] == namespace]:
                del self._requests[key]
            for latency in [key for key in self._latency_buckets if key[0] == namespace]:
                del self._latency_buckets[latency]
                self._latency_sum.pop(latency, None)
                self._latency_count.pop(latency, None)

    def observe(self, namespace: str, route: str, method: str, status: int | None, seconds: float | None) -> None:
        """Record one finished request, and its latency unless ``seconds`` is None (event streams).

        ``namespace`` is an existing namespace or ``""``; ``route`` is a route template (or :data:`UNMATCHED`),
        never a request path; ``status`` is None when no answer was sent (the client went away).
        """
        key = (namespace, route, method_label(method), status_label(status))
        with self._lock:
            self._requests[key] += 1
            if seconds is None:
                return
            latency = (namespace, route)
            buckets = self._latency_buckets.get(latency)
            if buckets is None:
                buckets = self._latency_buckets[latency] = [0] * len(LATENCY_BUCKETS)
            index = bisect.bisect_left(LATENCY_BUCKETS, seconds)
            for i in range(index, len(buckets)):
                buckets[i] += 1
            self._latency_sum[latency] += seconds
            self._latency_count[latency] += 1

    def render(self, gauges: dict[str, NamespaceGauges]) -> str:
        """Return the exposition text; ``gauges`` holds what was read from each open namespace's store."""
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")

        with self._lock:
            names = sorted(set(self._counters) | set(gauges))
            counters = [(name, self._counters.get(name, [0, 0, 0, 0])) for name in names]
            for index, (metric, help_text) in enumerate(
                [
                    ("factstr_appends_total", "Committed appends (append and append_if)."),
                    ("factstr_append_conflicts_total", "Conditional appends refused by a conflict."),
                    ("factstr_events_appended_total", "Events committed through this server."),
                    ("factstr_stream_batches_sent_total", "Batches sent to stream clients."),
                ]
            ):
                family(metric, "counter", help_text)
                for name, values in counters:
                    lines.append(f'{metric}{{namespace="{_label(name)}"}} {values[index]}')
            family("factstr_http_requests_total", "counter", "Finished HTTP requests.")
            for (namespace, route, method, status), count in sorted(self._requests.items()):
                labels = f'namespace="{_label(namespace)}",route="{_label(route)}",method="{method}",status="{status}"'
                lines.append(f"factstr_http_requests_total{{{labels}}} {count}")
            family("factstr_http_request_duration_seconds", "histogram", "HTTP request latency.")
            for latency in sorted(self._latency_buckets):
                label = f'namespace="{_label(latency[0])}",route="{_label(latency[1])}"'
                for bound, count in zip(LATENCY_BUCKETS, self._latency_buckets[latency], strict=True):
                    lines.append(f'factstr_http_request_duration_seconds_bucket{{{label},le="{bound}"}} {count}')
                total = self._latency_count[latency]
                lines.append(f'factstr_http_request_duration_seconds_bucket{{{label},le="+Inf"}} {total}')
                lines.append(f"factstr_http_request_duration_seconds_sum{{{label}}} {self._latency_sum[latency]}")
                lines.append(f"factstr_http_request_duration_seconds_count{{{label}}} {total}")
        family("factstr_head", "gauge", "The highest committed sequence number (0: empty log).")
        for name, gauge in sorted(gauges.items()):
            lines.append(f'factstr_head{{namespace="{_label(name)}"}} {gauge.head or 0}')
        family("factstr_open_streams", "gauge", "Streams open on this server.")
        for name, gauge in sorted(gauges.items()):
            for kind, count in sorted(gauge.open_streams.items()):
                lines.append(f'factstr_open_streams{{namespace="{_label(name)}",kind="{kind}"}} {count}')
        family("factstr_durable_stream_lag", "gauge", "Events between a durable cursor and the head.")
        for name, gauge in sorted(gauges.items()):
            for info in gauge.durable:
                labels = f'namespace="{_label(name)}",name="{_label(info.name)}"'
                lines.append(f"factstr_durable_stream_lag{{{labels}}} {info.lag}")
        family("factstr_durable_stream_active", "gauge", "1 while a durable name is held somewhere.")
        for name, gauge in sorted(gauges.items()):
            for info in gauge.durable:
                labels = f'namespace="{_label(name)}",name="{_label(info.name)}"'
                lines.append(f"factstr_durable_stream_active{{{labels}}} {int(info.active)}")
        return "\n".join(lines) + "\n"
