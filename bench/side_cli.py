"""``python -m bench --peers umadb,eventsourcing``: FACTSTR next to the peers and the raw databases, one run.

The chosen FACTSTR stores, the installed peers and the stores' raw databases are set up once; every scenario
group runs in interleaved rounds (``bench.interleave``); the output is one side-by-side table per store
(``bench.side_report``) and a JSON file with every sample. A peer that is not installed is listed as
"skipped: not installed" and its column stays empty; a peer that is installed but breaks fails the run.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import Any

from . import peers
from .interleave import SideRun
from .model import Settings
from .report import environment, header, write_document
from .side import GROUP_ORDER, Lineup, Raw, run_side
from .side_report import Table, render_all
from .systems import FactstrSystem, System
from .targets import STORE_NAMES, Unavailable, make_target

SIDE_SCENARIOS = ("B1", "B2", "B3", "B4", "B4c", "B5", "B6", "B7", "B10")
RAW_COLUMNS = {"sqlite": "raw sqlite3", "postgres": "raw psycopg"}
RAW_NOTE = (
    "raw columns: the minimal work on a plain table, no index but B5's -- fill: 1000-row transactions; B1: one "
    "INSERT per commit; B2: 100-row transactions; B3: the INSERT+COMMIT loop (the floor of one durable commit "
    "per operation, no read); B5: an index on exactly (type, bucket); B6: pages of the plain table"
)


def names(value: str | None, known: tuple[str, ...], what: str) -> list[str]:
    if value is None:
        return list(known)
    chosen = [name.strip() for name in value.split(",") if name.strip()]
    lowered = {name.lower(): name for name in known}
    unknown = [name for name in chosen if name.lower() not in lowered]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(known)})")
    return [lowered[name.lower()] for name in chosen]


def run_peers(args: argparse.Namespace, settings: Settings) -> int:
    """Run the side-by-side benchmark; return the exit status (1 when anything failed)."""
    wanted_peers = [] if args.peers.strip().lower() == "none" else names(args.peers, peers.PEER_NAMES, "peer")
    explicit = args.stores is not None
    store_names = names(args.stores, STORE_NAMES, "store")
    chosen = names(args.scenarios, SIDE_SCENARIOS, "scenario")
    env = environment()
    for name in peers.PEER_NAMES:
        env[name] = peers.version(name)
    run = SideRun(quiet=args.quiet)
    skipped: dict[str, str] = {}
    settings_of: dict[str, dict[str, str]] = {}
    factstr_systems: list[FactstrSystem] = []
    peer_systems: list[System] = []
    raws: list[Raw] = []
    failed = False
    try:
        for name in store_names:
            try:
                target = make_target(
                    name, sqlite_durability=settings.sqlite_durability, postgres_url=settings.postgres_url
                )
            except Unavailable as exc:
                if explicit:
                    print(f"error: store {name} was asked for but cannot run: {exc}", file=sys.stderr)
                    failed = True
                else:
                    print(f"skipped {name}: {exc}", file=sys.stderr)
                skipped[f"FACTSTR {name}"] = str(exc)
                continue
            factstr_systems.append(FactstrSystem(target))
            database = target.raw()
            if database is not None:
                raws.append(Raw(RAW_COLUMNS[name], name, database))
        status = peers.availability()
        for name in wanted_peers:
            title = peers.PEER_TITLES[name]
            reason = status[name]
            if reason is not None:
                print(f"skipped {title}: {reason}", file=sys.stderr)
                skipped[title] = reason
                continue
            try:
                peer_systems.append(peers.make_peer(name, postgres_url=settings.postgres_url, writers=settings.writers))
            except Exception as exc:
                print(f"error: peer {title} is installed but cannot start: {exc}", file=sys.stderr)
                traceback.print_exc()
                skipped[title] = f"cannot start: {exc}"
                failed = True
        systems: list[System] = [*factstr_systems, *peer_systems]
        run.columns = [system.name for system in systems] + [raw.column for raw in raws]
        lineup = Lineup(settings, systems, raws, run)
        groups = [group for group in GROUP_ORDER if group in chosen]
        if factstr_systems:
            run_side(lineup, groups)
            if "B10" in chosen:
                from .network import b10

                b10(lineup, factstr_systems, peer_systems, node=not args.no_node)
    finally:
        for opened in [*factstr_systems, *peer_systems]:
            try:
                settings_of[opened.name] = opened.settings()
                opened.close()
            except Exception:
                traceback.print_exc()
                failed = True
    for raw in raws:
        settings_of[raw.column] = {"settings": f"the plain driver with the {raw.store} store's durability settings"}
    if raws:
        run.notes.append(RAW_NOTE)
    peer_titles = [peers.PEER_TITLES[name] for name in wanted_peers]
    tables = [
        Table(f"FACTSTR {system.key} vs the peers", [system.name], peer_titles, RAW_COLUMNS.get(system.key))
        for system in factstr_systems
    ]
    if "B10" in chosen:
        from .network import SERVED, paths

        for served in factstr_systems:
            if served.key in SERVED:
                path = paths(served.key)
                tables.append(
                    Table(
                        f"B10 network path: FACTSTR {served.key} behind `factstr serve` vs UmaDB through gRPC",
                        [path["in-process"], path["python"], path["node"]],
                        [path["umadb"]] if "umadb" in wanted_peers else [],
                        compared=[path["python"], path["node"]],
                    )
                )
    print()
    print(header(settings, env, settings_of, interleaved=True))
    print()
    print(render_all(run, tables, skipped))
    document: dict[str, Any] = {
        "mode": "peers",
        "peers": wanted_peers,
        "tables": [table.__dict__ for table in tables],
        "side": run.to_json(),
    }
    write_document(args.json, settings, env, settings_of, skipped, document)
    print(f"\nJSON written to {args.json}")
    failed |= run.failed
    if failed:
        print("\nFAILED: see the cells marked FAILED (or the errors above)", file=sys.stderr)
    return 1 if failed else 0
