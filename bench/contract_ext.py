"""What the contract extensions of issue 18 cost: an append with an idempotency key against one without, and a
read "as of" a number far below the head against the same read at the head.

``python -m bench.contract_ext [--stores memory,sqlite,postgres] [--events N] [--appends A] [--repeat R]
[--postgres-url URL]`` fills a log of ``N`` events (100 accounts), then times ``A`` single-event appends in one
thread, without and with a fresh key each (SQLite with ``durability="normal"``, so the fsync does not hide the
difference), and a backwards query of one account's newest 10 facts at the head and with ``max_sequence_number`` at
half the log. Prints the median microseconds per call of ``R`` repetitions.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from factstr import EventFilter, EventQuery, EventStore, MemoryStore, NewEvent, SQLiteStore

from .stats import median

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def opened(kind: str, postgres_url: str) -> Iterator[EventStore]:
    if kind == "memory":
        with MemoryStore() as store:
            yield store
    elif kind == "sqlite":
        with tempfile.TemporaryDirectory() as workdir, SQLiteStore(f"{workdir}/bench.db", durability="normal") as store:
            yield store
    else:
        import psycopg
        from psycopg import sql

        from factstr.postgres import PostgresStore

        schema = f"factstr_bench_{uuid.uuid4().hex[:12]}"
        try:
            with PostgresStore(postgres_url, schema=schema) as store:
                yield store
        finally:
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def per_call(calls: int, call: Callable[[int], object]) -> float:
    """Microseconds per call."""
    start = time.perf_counter()
    for index in range(calls):
        call(index)
    return (time.perf_counter() - start) / calls * 1e6


def measure(store: EventStore, events: int, appends: int, repeat: int) -> dict[str, float]:
    for start in range(0, events, 1000):
        store.append([NewEvent("deposited", {"account": n % 100, "n": n}) for n in range(start, start + 1000)])
    account = [EventFilter(event_types=["deposited"], payload_predicates=[{"account": 7}])]
    at_head = EventQuery(filters=account, backwards=True, limit=10)
    as_of_half = EventQuery(filters=account, backwards=True, limit=10, max_sequence_number=events // 2)
    prefix = uuid.uuid4().hex
    samples: dict[str, list[float]] = {"append": [], "append+key": [], "query@head": [], "query@half": []}
    for round_ in range(repeat):
        keys = [f"{prefix}-{round_}-{i}" for i in range(appends)]

        def keyed(index: int, keys: list[str] = keys) -> object:
            return store.append([NewEvent("noted", {"i": index})], idempotency_key=keys[index])

        samples["append"].append(per_call(appends, lambda i: store.append([NewEvent("noted", {"i": i})])))
        samples["append+key"].append(per_call(appends, keyed))
        samples["query@head"].append(per_call(appends, lambda i: store.query(at_head)))
        samples["query@half"].append(per_call(appends, lambda i: store.query(as_of_half)))
    return {name: median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="memory,sqlite,postgres")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--appends", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    arguments = parser.parse_args()
    print(f"{'store':<10}{'append':>10}{'append+key':>12}{'query@head':>12}{'query@half':>12}   (us per call)")
    for kind in arguments.stores.split(","):
        with opened(kind, arguments.postgres_url) as store:
            result = measure(store, arguments.events, arguments.appends, arguments.repeat)
        print(
            f"{kind:<10}{result['append']:>10.1f}{result['append+key']:>12.1f}"
            f"{result['query@head']:>12.1f}{result['query@half']:>12.1f}"
        )


if __name__ == "__main__":
    main()
