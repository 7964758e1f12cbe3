"""The command line: choose stores, sizes, scenarios and durations; run; print the table; write JSON."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from . import footprint, reads, streams, writes
from .model import BenchFailure, Result, Settings
from .report import SCENARIO_ORDER, environment, header, table, write_json
from .session import Session
from .targets import DEFAULT_POSTGRES_URL, STORE_NAMES, Target, Unavailable, make_target

Scenario = Callable[[Session], Result]

SCENARIOS: dict[str, Scenario] = {
    "B1": writes.b1,
    "B2": writes.b2,
    "B3": writes.b3,
    "B4": writes.b4,
    "B4c": writes.b4c,
    "B5": reads.b5,
    "B6": reads.b6,
    "B7": streams.b7,
    "B8": streams.b8,
    "B9": footprint.b9,
}
# Read-only scenarios on the shared histories run before the ones that append to them.
ORDER = ("B9", "B1", "B2", "B7", "B5", "B6", "B8", "B3", "B4", "B4c")
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--stores", help=f"comma-separated, from {','.join(STORE_NAMES)} (default: every one available)"
    )
    parser.add_argument("--events", type=int, help="N, the large history (default 100000; --quick 1000)")
    parser.add_argument("--small", type=int, help="the small history compared with N (default 10000)")
    parser.add_argument("--scenarios", help=f"comma-separated, from {','.join(SCENARIO_ORDER)} (default: all)")
    parser.add_argument("--duration", type=float, help="seconds per measurement (default 2; --quick 0.1)")
    parser.add_argument("--repeat", type=int, help="repetitions per measurement, median reported (default 3)")
    parser.add_argument("--writers", type=int, help="concurrent writers in B4/B4c (default 8)")
    parser.add_argument("--sqlite-durability", choices=("full", "normal"), default="full")
    parser.add_argument("--postgres-url", default=os.environ.get("FACTSTR_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help=f"where to write the JSON (default {DEFAULT_JSON})"
    )
    parser.add_argument(
        "--peers",
        help="compare with these peers side by side, in interleaved rounds: umadb,eventsourcing (or none); "
        "runs B1-B7 and B10 instead of the store-only matrix (scenarios: B1,B2,B3,B4,B4c,B5,B6,B7,B10)",
    )
    parser.add_argument(
        "--no-node", action="store_true", help="B10 without the TypeScript client (no Node.js, no npm build)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes and durations (the smoke test)")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    quick = bool(args.quick)
    events = args.events if args.events is not None else (1000 if quick else 100_000)
    small = args.small if args.small is not None else (200 if quick else min(10_000, max(events // 10, 100)))
    duration = args.duration if args.duration is not None else (0.1 if quick else 2.0)
    if events < 100 or not 0 < small < events:
        raise SystemExit("--events must be >= 100 and --small between 1 and --events")
    return Settings(
        events=events,
        small=small,
        duration=duration,
        repeat=args.repeat if args.repeat is not None else (1 if quick else 3),
        writers=args.writers if args.writers is not None else (2 if quick else 8),
        counter_limit=10 if quick else max(20, int(25 * duration)),
        sqlite_durability=args.sqlite_durability,
        postgres_url=args.postgres_url,
        quick=quick,
    )


def _names(value: str | None, known: tuple[str, ...], what: str) -> list[str]:
    if value is None:
        return list(known)
    names = [name.strip() for name in value.split(",") if name.strip()]
    lowered = {name.lower(): name for name in known}
    unknown = [name for name in names if name.lower() not in lowered]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(known)})")
    return [lowered[name.lower()] for name in names]


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds through every ``finally``: scratch schemas and files are removed on the way out.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
    settings = settings_from(args)
    if args.peers is not None:
        from .side_cli import run_peers

        return run_peers(args, settings)
    explicit = args.stores is not None
    store_names = _names(args.stores, STORE_NAMES, "store")
    chosen = set(_names(args.scenarios, SCENARIO_ORDER, "scenario"))
    order = [scenario for scenario in ORDER if scenario in chosen]
    env = environment()
    results: list[Result] = []
    skipped: dict[str, str] = {}
    store_settings: dict[str, dict[str, str]] = {}
    failed = False
    for name in store_names:
        try:
            target = make_target(name, sqlite_durability=settings.sqlite_durability, postgres_url=settings.postgres_url)
        except Unavailable as exc:
            if explicit:
                print(f"error: store {name} was asked for but cannot run: {exc}", file=sys.stderr)
                failed = True
            else:
                print(f"skipped {name}: {exc}", file=sys.stderr)
            skipped[name] = str(exc)
            continue
        failed |= _run_store(target, settings, order, results, store_settings, quiet=args.quiet)
    print()
    print(header(settings, env, store_settings))
    for name, reason in skipped.items():
        print(f"{'skipped':>9}: {name}: {reason}")
    print()
    print(table(results))
    write_json(args.json, settings, env, store_settings, skipped, results)
    print(f"\nJSON written to {args.json}")
    if failed:
        print("\nFAILED: see the rows marked FAILED (or the errors above)", file=sys.stderr)
    return 1 if failed else 0


def _run_store(
    target: Target,
    settings: Settings,
    order: list[str],
    results: list[Result],
    store_settings: dict[str, dict[str, str]],
    *,
    quiet: bool,
) -> bool:
    failed = False
    session = Session(target, settings, quiet=quiet)
    try:
        for scenario in order:
            print(f"[{target.name}] {scenario} ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            try:
                result = SCENARIOS[scenario](session)
            except BenchFailure as exc:
                result = Result(scenario, target.name, status="FAILED", note=str(exc))
            except Exception as exc:
                detail = "".join(traceback.format_exception_only(exc)).strip()
                traceback.print_exc()
                result = Result(scenario, target.name, status="FAILED", note=f"the store raised {detail}")
            elapsed = time.perf_counter() - started
            failed |= result.status == "FAILED"
            summary = result.note if result.status != "ok" else f"{result.figure} | {result.ratio}"
            print(f"[{target.name}] {scenario} {result.status} in {elapsed:.1f} s: {summary}", file=sys.stderr)
            results.append(result)
        if session.fill_seconds:
            sizes = ", ".join(f"{size:,} events in {seconds:.1f} s" for size, seconds in session.fill_seconds.items())
            target_settings = target.settings()
            target_settings["filled"] = sizes
        else:
            target_settings = target.settings()
        store_settings[target.name] = target_settings
    finally:
        try:
            target.close()
        except Exception:
            traceback.print_exc()
            failed = True
    return failed
