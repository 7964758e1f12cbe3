"""What building a million records costs: msgspec ``Struct(frozen=True, gc=False)`` vs frozen dataclasses.

``python -m bench.records [--count N] [--repeat R]`` builds ``N`` records (positional arguments, as the stores
do) in a list, with the garbage collector enabled as in a real process, and prints the median time of each
kind and the ratio to the msgspec struct. The model's docstring (``factstr._model``) quotes this figure.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from .stats import median

JSONValue = object


class StructRecord(msgspec.Struct, frozen=True, gc=False):
    sequence_number: int
    occurred_at: datetime
    event_type: str
    payload: JSONValue


@dataclass(frozen=True)
class FrozenDataclassRecord:
    sequence_number: int
    occurred_at: datetime
    event_type: str
    payload: JSONValue


@dataclass(frozen=True, slots=True)
class FrozenSlotsDataclassRecord:
    sequence_number: int
    occurred_at: datetime
    event_type: str
    payload: JSONValue


KINDS: dict[str, Callable[[int, datetime, str, JSONValue], object]] = {
    "msgspec Struct(frozen=True, gc=False)": StructRecord,
    "dataclass(frozen=True)": FrozenDataclassRecord,
    "dataclass(frozen=True, slots=True)": FrozenSlotsDataclassRecord,
}


def build_seconds(kind: Callable[[int, datetime, str, JSONValue], object], count: int) -> float:
    """Build ``count`` records of ``kind`` into a list and return the seconds it took (GC enabled)."""
    occurred_at = datetime.now(UTC)
    payloads = [{"account": f"acct-{i // 8:08d}", "bucket": i % 1000} for i in range(1000)]
    gc.collect()
    started = time.perf_counter()
    records = [kind(i, occurred_at, "OrderPlaced", payloads[i % 1000]) for i in range(count)]
    elapsed = time.perf_counter() - started
    del records
    gc.collect()
    return elapsed


def measure(count: int, repeat: int) -> dict[str, float]:
    """Median seconds per kind, the kinds interleaved in each repetition."""
    samples: dict[str, list[float]] = {name: [] for name in KINDS}
    for _ in range(repeat):
        for name, kind in KINDS.items():
            samples[name].append(build_seconds(kind, count))
    return {name: median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.records", description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    figures = measure(args.count, args.repeat)
    base = figures["msgspec Struct(frozen=True, gc=False)"]
    print(f"building {args.count:,} EventRecord values, median of {args.repeat}, GC enabled:")
    for name, seconds in figures.items():
        print(f"  {name:<40} {seconds * 1e3:8.1f} ms   {seconds / base:5.2f}x the msgspec struct")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
