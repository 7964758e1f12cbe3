"""The settings in force, the table, and the JSON file of a run."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from .data import mean_payload_bytes
from .model import Result, Settings

SCENARIO_ORDER = ("B1", "B2", "B3", "B4", "B4c", "B5", "B6", "B7", "B8", "B9")
STORE_ORDER = ("memory", "sqlite", "postgres")


def environment() -> dict[str, str]:
    """The machine and versions a reader needs to interpret the figures."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {_cpu_model()}, {_memory()}",
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "factstr": f"{_version('factstr')} ({_git_state()})",
        "msgspec": _version("msgspec"),
        "psycopg": _version("psycopg"),
        "payload": f"{mean_payload_bytes():.0f} bytes of JSON on average (history events)",
    }


def _git_state() -> str:
    """The commit the code under test comes from, and whether the working tree differs from it."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "commit unknown"
    return f"commit {described.stdout.strip()}" if described.returncode == 0 else "commit unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory() -> str:
    try:
        with open("/proc/meminfo") as meminfo:
            kib = int(meminfo.readline().split()[1])
        return f"{kib / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        return "unknown RAM"


def header(
    settings: Settings, env: dict[str, str], stores: dict[str, dict[str, str]], *, interleaved: bool = False
) -> str:
    """The settings in force, printed above the table."""
    lines = [f"{key:>9}: {value}" for key, value in env.items()]
    repetitions = (
        f"{settings.repeat} interleaved rounds (median, min-max)" if interleaved else f"median of {settings.repeat}"
    )
    lines.append(
        f"{'run':>9}: N={settings.events:,}, small history={settings.small:,}, "
        f"{settings.duration:g} s per measurement, "
        f"{repetitions}, {settings.writers} writers, B4c limit {settings.counter_limit}"
        + (" (--quick)" if settings.quick else "")
    )
    for name, values in stores.items():
        lines.append(f"{name:>9}: " + "; ".join(f"{key} {value}" for key, value in values.items()))
    return "\n".join(lines)


def table(results: list[Result]) -> str:
    """A Markdown table: one row per scenario and store."""
    rows = [("id", "store", "result", "ratio / reference", "target", "met")]
    ordered = sorted(results, key=lambda r: (SCENARIO_ORDER.index(r.scenario), _store_rank(r.store)))
    for result in ordered:
        if result.status == "n/a":
            continue
        if result.status == "ok":
            met = "—" if result.met is None else ("yes" if result.met else "**no**")
            rows.append((result.scenario, result.store, result.figure, result.ratio, result.target, met))
        else:
            rows.append((result.scenario, result.store, result.status, _one_line(result.note), result.target, "—"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        lines.append("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |")
        if index == 0:
            lines.append("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(lines)


def _one_line(text: str, limit: int = 300) -> str:
    """A failure note fit for a table cell: its first line, cut at ``limit`` (the JSON keeps all of it)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    line = line.replace("|", "/")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _store_rank(store: str) -> int:
    return STORE_ORDER.index(store) if store in STORE_ORDER else len(STORE_ORDER)


def write_json(
    path: Path,
    settings: Settings,
    env: dict[str, str],
    stores: dict[str, dict[str, str]],
    skipped: dict[str, str],
    results: list[Result],
) -> None:
    write_document(path, settings, env, stores, skipped, {"results": [asdict(result) for result in results]})


def write_document(
    path: Path,
    settings: Settings,
    env: dict[str, str],
    stores: dict[str, dict[str, str]],
    skipped: dict[str, str],
    content: dict[str, Any],
) -> None:
    """Write a run's JSON: the command, settings, environment, systems, what was skipped, and ``content``."""
    document: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, "-m", "bench", *sys.argv[1:]]),
        "settings": asdict(settings),
        "environment": env,
        "stores": stores,
        "skipped": skipped,
        **content,
    }
    document["settings"].pop("postgres_url", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")


def read_json(path: Path) -> tuple[Settings, dict[str, str], dict[str, dict[str, str]], dict[str, str], list[Result]]:
    """Read back what :func:`write_json` wrote."""
    document = json.loads(path.read_text())
    settings = Settings(postgres_url="", **document["settings"])
    results = [Result(**row) for row in document.get("results", [])]
    return settings, document["environment"], document["stores"], document["skipped"], results


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.report [PATH]``: print the settings and the table of a JSON result file again."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path(__file__).resolve().parent / "results" / "latest.json"
    settings, env, stores, skipped, results = read_json(path)
    document = json.loads(path.read_text())
    print(f"command: {document.get('command', '?')}")
    print(header(settings, env, stores, interleaved=document.get("mode") == "peers"))
    if document.get("mode") == "peers":
        from .interleave import SideRun
        from .side_report import Table, render_all

        tables = [Table(**table) for table in document["tables"]]
        print()
        print(render_all(SideRun.from_json(document["side"]), tables, skipped))
        return 0
    for name, reason in skipped.items():
        print(f"{'skipped':>9}: {name}: {reason}")
    print()
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
