"""What the worst query within the query limits costs, next to a typical context query, on every store.

``python -m bench.limits [--events N] [--stores memory,sqlite,postgres] [--repeat R]`` appends a history of
``N`` events (default 100,000; 2,000 event types, payloads of a few fields), then times ``query()`` for:

* ``typical``: one filter, one event type, one payload predicate (a command context);
* ``types``: every filter at the limit of event types, each type in the log (4,096 index probes);
* ``predicates``: the limit of payload predicates per query, none in a filter with types, each of the largest
  allowed size and sharing most of its keys with the payloads (each one checked against the newest events);
* ``pairs``: the limit of (event type, payload predicate) pairs, every type in the log and no predicate
  matching (one probe per pair on PostgreSQL), with the rest of the predicates untyped and the rest of the
  filters at the limit of types.

Every worst query also carries ``limit=100``, so that what is measured is the cost of the query's shape, not of
returning many records (that cost is the records'). The figure is the median of ``R`` runs after one warm-up;
the ratio is to ``typical`` on the same store. The limits come from ``factstr._validation``; the docs
(docs/concepts.md, "Limits") quote this benchmark.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import msgspec

from factstr import EventFilter, EventQuery, EventStore, NewEvent
from factstr._validation import (
    MAX_EVENT_TYPES_PER_FILTER,
    MAX_FILTERS,
    MAX_PREDICATE_BYTES,
    MAX_PREDICATES_PER_FILTER,
    MAX_PREDICATES_PER_QUERY,
    MAX_TYPE_PREDICATE_PAIRS,
    check_query,
)

from .report import environment
from .stats import median
from .targets import DEFAULT_POSTGRES_URL, STORE_NAMES, Target, Unavailable, make_target

TYPES = 2000
PAYLOAD_FIELDS = 8


def _type(index: int) -> str:
    return f"type-{index % TYPES:04d}"


def _payload(index: int) -> dict[str, object]:
    return {"id": index, "bucket": index % 100, **{f"f{field}": field for field in range(PAYLOAD_FIELDS)}}


def _near_miss(index: int) -> dict[str, object]:
    """A predicate of MAX_PREDICATE_BYTES sharing every payload field but ``id``: no event matches it."""
    predicate: dict[str, object] = {f"f{field}": field for field in range(PAYLOAD_FIELDS)}
    predicate["id"] = -1 - index
    predicate["pad"] = ""
    predicate["pad"] = "p" * (MAX_PREDICATE_BYTES - len(msgspec.json.encode(predicate)))
    return predicate


def _typed_filters(count: int, first_type: int) -> list[EventFilter]:
    return [
        EventFilter(
            event_types=[
                _type(first_type + f * MAX_EVENT_TYPES_PER_FILTER + t) for t in range(MAX_EVENT_TYPES_PER_FILTER)
            ]
        )
        for f in range(count)
    ]


def _untyped_filters(count: int, first: int) -> list[EventFilter]:
    predicates = [_near_miss(first + index) for index in range(count)]
    return [
        EventFilter(payload_predicates=predicates[offset : offset + MAX_PREDICATES_PER_FILTER])
        for offset in range(0, count, MAX_PREDICATES_PER_FILTER)
    ]


def queries() -> dict[str, EventQuery]:
    """The typical query and the worst ones, each checked to be within the limits."""
    pair_filters = MAX_TYPE_PREDICATE_PAIRS // MAX_EVENT_TYPES_PER_FILTER  # one predicate each
    pairs = [
        EventFilter(
            event_types=[_type(f * MAX_EVENT_TYPES_PER_FILTER + t) for t in range(MAX_EVENT_TYPES_PER_FILTER)],
            payload_predicates=[{"id": -1 - f}],
        )
        for f in range(pair_filters)
    ]
    pairs += _untyped_filters(MAX_PREDICATES_PER_QUERY - pair_filters, 1000)
    pairs += _typed_filters(MAX_FILTERS - len(pairs), 0)
    predicates = _untyped_filters(MAX_PREDICATES_PER_QUERY, 0)
    predicates += _typed_filters(MAX_FILTERS - len(predicates), 0)
    chosen = {
        "typical": EventQuery(filters=[EventFilter(event_types=[_type(7)], payload_predicates=[{"id": 7}])]),
        "types": EventQuery(filters=_typed_filters(MAX_FILTERS, 0), limit=100),
        "predicates": EventQuery(filters=predicates, limit=100),
        "pairs": EventQuery(filters=pairs, limit=100),
    }
    for query in chosen.values():
        check_query(query)
    return chosen


def seed(store: EventStore, events: int) -> None:
    for start in range(0, events, 1000):
        store.append([NewEvent(_type(i), _payload(i)) for i in range(start, min(start + 1000, events))])


def _querying(store: EventStore, query: EventQuery) -> Callable[[], object]:
    return lambda: store.query(query)


def timed(run: Callable[[], object], repeat: int) -> float:
    run()  # warm-up: caches, plans, statistics
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.limits", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--stores", default=",".join(STORE_NAMES))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args(argv)
    for key, value in environment().items():
        if key != "payload":
            print(f"{key}: {value}")
    print(f"history: {args.events:,} events, {TYPES} event types; median of {args.repeat} runs after a warm-up")
    shapes = queries()
    for name in args.stores.split(","):
        try:
            target: Target = make_target(name, sqlite_durability="normal", postgres_url=args.postgres_url)
        except Unavailable as exc:
            print(f"{name}: skipped ({exc})")
            continue
        try:
            store = target.open("limits").store
            seed(store, args.events)
            if hasattr(store, "_refresh_statistics"):
                store._refresh_statistics()  # as autovacuum would after the bulk load
            figures = {shape: timed(_querying(store, query), args.repeat) for shape, query in shapes.items()}
            settings = target.settings().get("version", "")
            print(f"{name} {settings}".rstrip())
            for shape, seconds in figures.items():
                ratio = seconds / figures["typical"]
                print(f"  {shape:<11} {seconds * 1e3:9.1f} ms   {ratio:8.0f}x typical")
        finally:
            target.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
