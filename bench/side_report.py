"""The side-by-side tables: one per FACTSTR store, next to the peers and that store's raw database.

Each cell is ``median (min-max)`` over the rounds. The ratio column is "FACTSTR / best peer" oriented so that
more than 1 is better: the FACTSTR median over the best peer median for throughput, the best peer median over
the FACTSTR median for latency. The goal (BENCHMARKS.md, "Against the peers") is at least 1.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .interleave import Cell, Row, SideRun
from .model import fmt_rate

GOAL = 1.2


@dataclass(frozen=True)
class Table:
    """Which columns one table shows: FACTSTR's (each compared with the best peer), the peers', the raw one."""

    title: str
    factstr: list[str]
    peers: list[str]
    raw: str | None = None
    compared: list[str] | None = None
    """The FACTSTR columns that get a ratio column (all of them when None)."""


def value(number: float, unit: str) -> str:
    if unit == "ms":
        if abs(number) < 0.1:
            return f"{number:.3f}"
        return f"{number:.2f}" if abs(number) < 100 else f"{number:,.0f}"
    if unit == "conflicts":
        return f"{number:,.0f}"
    return fmt_rate(number)


def cell_text(cell: Cell | None, unit: str, skipped: str | None = None) -> str:
    if skipped is not None:
        return "skipped"
    if cell is None or cell.status == "n/a":
        return "—"
    if cell.status != "ok":
        return cell.status
    if not cell.samples:
        return "—"
    low, high = min(cell.samples), max(cell.samples)
    middle = cell.median
    assert middle is not None
    if len(cell.samples) == 1:
        return value(middle, unit)
    return f"{value(middle, unit)} ({value(low, unit)}-{value(high, unit)})"


def ratio(run: SideRun, row: Row, factstr: str, peers: Sequence[str]) -> float | None:
    """FACTSTR / best peer, > 1 is better; None when either side has no figure."""
    if not row.compared:
        return None
    own = _median(run, row, factstr)
    others = [m for m in (_median(run, row, peer) for peer in peers) if m is not None and m > 0]
    if own is None or own <= 0 or not others:
        return None
    if row.lower_is_better:
        return min(others) / own
    return own / max(others)


def _median(run: SideRun, row: Row, column: str) -> float | None:
    cell = run.cells.get((row.key, column))
    return None if cell is None else cell.median


def render(run: SideRun, table: Table, skipped: dict[str, str]) -> str:
    """One Markdown table."""
    columns = [*table.factstr, *table.peers] + ([table.raw] if table.raw else [])
    compared = table.factstr if table.compared is None else table.compared
    ratio_titles = (
        ["FACTSTR / best peer", f">= {GOAL}x"]
        if len(compared) == 1
        else [title for column in compared for title in (f"{_short(column)} / best peer", f">= {GOAL}x")]
    )
    header = ["scenario", "unit", *columns, *ratio_titles]
    lines = [header]
    for row in run.rows:
        own = [run.cells.get((row.key, column)) for column in table.factstr]
        if all(cell is None or cell.status == "n/a" for cell in own):
            continue  # a row FACTSTR cannot run here (other processes on Memory), or another table's row
        cells = [run.cells.get((row.key, column)) for column in columns]
        texts = [cell_text(cell, row.unit, skipped.get(column)) for cell, column in zip(cells, columns, strict=True)]
        ratios = []
        for column in compared:
            factor = ratio(run, row, column, table.peers)
            ratios.append("" if factor is None else f"{factor:.2f}x")
            ratios.append("" if factor is None else ("yes" if factor >= GOAL else "**no**"))
        lines.append([row.label, row.unit, *texts, *ratios])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for index, line in enumerate(lines):
        out.append("| " + " | ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)) + " |")
        if index == 0:
            out.append("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(out)


def render_all(run: SideRun, tables: Sequence[Table], skipped: dict[str, str]) -> str:
    """Every table, then the failures (one line each), the skipped columns and the run's notes."""
    parts = []
    for table in tables:
        parts.append(f"### {table.title}\n\n{render(run, table, skipped)}")
    failures = [
        f"- {column}, {row}: {cell.note}" for (row, column), cell in run.cells.items() if cell.status == "FAILED"
    ]
    if failures:
        parts.append("FAILED:\n" + "\n".join(_one_line(line) for line in failures))
    if skipped:
        parts.append("\n".join(f"skipped: {column}: {reason}" for column, reason in skipped.items()))
    if run.notes:
        parts.append("\n".join(f"note: {note}" for note in run.notes))
    return "\n\n".join(parts)


def _short(column: str) -> str:
    """A FACTSTR column's name without the store (the table's title has it)."""
    parts = column.split(" ", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "FACTSTR" else column


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
