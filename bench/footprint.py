"""B9: bytes per stored event in the Memory store, indexes included (tracemalloc and RSS, in subprocesses)."""

from __future__ import annotations

from .data import mean_payload_bytes
from .model import Result, check
from .procs import run_job
from .session import Session

TARGET_BYTES = 1024


def b9(session: Session) -> Result:
    """B9: fill a fresh Memory store with N events in a clean process; measure what it holds per event."""
    if session.target.name != "memory":
        return Result("B9", session.target.name, status="n/a", note="B9 measures the Memory store only")
    size = session.settings.events
    traced = run_job({"kind": "footprint", "mode": "tracemalloc", "size": size})
    resident = run_job({"kind": "footprint", "mode": "rss", "size": size})
    for measured in (traced, resident):
        check(int(measured["head"]) == size, f"B9: the store holds {measured['head']} events, expected {size}")
    per_event = int(traced["bytes"]) / size
    rss_per_event = int(resident["bytes"]) / size
    payload = mean_payload_bytes()
    result = Result("B9", session.target.name)
    result.figure = f"{per_event:,.0f} B/event (tracemalloc); {rss_per_event:,.0f} B/event (RSS delta)"
    result.ratio = f"{size:,} events of {payload:.0f} B JSON payload, appended in batches of 100"
    result.metrics = {
        "bytes_per_event_tracemalloc": per_event,
        "bytes_per_event_rss": rss_per_event,
        "payload_bytes": payload,
        "events": size,
    }
    result.target = f"<= {TARGET_BYTES} B/event"
    result.met = max(per_event, rss_per_event) <= TARGET_BYTES
    return result
