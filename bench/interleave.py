"""Interleaved rounds: every system measured once per round, the order rotated by the round, so that a change
in the machine's speed during a run (other load, fsync latency) hits every system alike.

A *row* is one figure (B1 events/s, B5 p50 at N...); a *column* one system (FACTSTR on a store, a peer, a raw
database). A :class:`Participant` is one column's part in a group of rows: ``measure`` runs one round and
returns a value per row. Each cell keeps every round's value; the table shows min, median and max.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .model import BenchFailure
from .stats import median


@dataclass(frozen=True)
class Row:
    """One figure of the side-by-side table."""

    key: str
    label: str
    unit: str
    lower_is_better: bool = False
    compared: bool = True
    """Whether the row gets a "FACTSTR / best peer" ratio (not for counts such as conflicts)."""


@dataclass
class Cell:
    """One system's samples for one row (one per round)."""

    samples: list[float] = field(default_factory=list)
    status: str = "ok"
    """``ok``, ``FAILED`` (the system broke or returned wrong data), ``n/a`` (the system cannot do it)."""
    note: str = ""

    @property
    def median(self) -> float | None:
        return median(self.samples) if self.status == "ok" and self.samples else None


@dataclass
class Participant:
    """A column's part in a group: ``measure`` runs one round; ``check`` runs after the last round."""

    column: str
    measure: Callable[[], dict[str, float]]
    check: Callable[[], None] | None = None
    close: Callable[[], None] | None = None


@dataclass
class SideRun:
    """Everything a side-by-side run measured."""

    rows: list[Row] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    quiet: bool = False

    @property
    def failed(self) -> bool:
        return any(cell.status == "FAILED" for cell in self.cells.values())

    def add_rows(self, rows: Sequence[Row]) -> None:
        known = {row.key for row in self.rows}
        self.rows.extend(row for row in rows if row.key not in known)

    def cell(self, row: str, column: str) -> Cell:
        return self.cells.setdefault((row, column), Cell())

    def mark(self, rows: Sequence[Row], column: str, status: str, note: str) -> None:
        for row in rows:
            cell = self.cell(row.key, column)
            if cell.status == "ok":
                cell.status, cell.note = status, note

    def say(self, line: str) -> None:
        if not self.quiet:
            print(line, file=sys.stderr, flush=True)

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": [asdict(row) for row in self.rows],
            "columns": self.columns,
            "cells": [{"row": row, "column": column, **asdict(cell)} for (row, column), cell in self.cells.items()],
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> SideRun:
        run = cls(rows=[Row(**row) for row in document["rows"]], columns=list(document["columns"]))
        for item in document["cells"]:
            run.cells[(item["row"], item["column"])] = Cell(item["samples"], item["status"], item["note"])
        run.notes = list(document["notes"])
        return run


def describe(exc: BaseException) -> str:
    """A failure in one line for a cell (the traceback goes to stderr unless it is a self-check)."""
    if isinstance(exc, BenchFailure):
        return str(exc)
    traceback.print_exception(exc, file=sys.stderr)
    return "raised " + "".join(traceback.format_exception_only(exc)).strip()


def run_group(
    run: SideRun,
    title: str,
    rows: Sequence[Row],
    participants: Sequence[Participant],
    rounds: int,
) -> None:
    """Run ``rounds`` interleaved rounds of ``participants`` and record their values in ``rows``.

    A participant that raises (or whose final check fails) gets FAILED cells in every row of the group and
    takes no further part; the others go on.
    """
    run.add_rows(rows)
    broken: dict[str, str] = {}
    try:
        for r in range(rounds):
            shift = r % max(1, len(participants))
            order = [*participants[shift:], *participants[:shift]]
            started = time.perf_counter()
            for participant in order:
                if participant.column in broken:
                    continue
                try:
                    values = participant.measure()
                except Exception as exc:
                    broken[participant.column] = describe(exc)
                    run.say(f"  [{title}] {participant.column} FAILED: {broken[participant.column]}")
                    continue
                for key, value in values.items():
                    run.cell(key, participant.column).samples.append(value)
            run.say(f"  [{title}] round {r + 1}/{rounds} done in {time.perf_counter() - started:.1f} s")
        for participant in participants:
            if participant.check is not None and participant.column not in broken:
                try:
                    participant.check()
                except Exception as exc:
                    broken[participant.column] = describe(exc)
    finally:
        for participant in participants:
            if participant.close is not None:
                try:
                    participant.close()
                except Exception as exc:
                    broken.setdefault(participant.column, "closing: " + describe(exc))
    for column, note in broken.items():
        run.mark(rows, column, "FAILED", note)
