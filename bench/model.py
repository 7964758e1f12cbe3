"""The harness's own values: its settings, one scenario result, and the failure of a self-check."""

from __future__ import annotations

from dataclasses import dataclass, field

Metric = float | int | str | bool | None | list[float]


class BenchFailure(Exception):
    """A store returned wrong data (or broke) during a scenario: the run fails loudly."""


def check(condition: bool, message: str) -> None:
    """Raise BenchFailure with ``message`` unless ``condition`` holds."""
    if not condition:
        raise BenchFailure(message)


def fmt_ratio(value: float) -> str:
    """A ratio for the table: two decimals, or two significant digits when it is below 0.1."""
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


def fmt_rate(value: float) -> str:
    """A rate for the table: thousands separators, or two significant digits below 10."""
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


@dataclass(frozen=True)
class Settings:
    """What a run measures and for how long."""

    events: int
    """N: the large history (B3, B5, B8 at N; B6 reads it; B9 stores it)."""
    small: int
    """The small history the N figures are compared with (10k unless N is smaller)."""
    duration: float
    """Seconds per measurement."""
    repeat: int
    """Repetitions per measurement; the median is reported."""
    writers: int
    """Concurrent writers in B4 and B4c."""
    counter_limit: int
    """B4c: the limit of the shared counter."""
    sqlite_durability: str
    postgres_url: str
    quick: bool

    @property
    def warm_up_seconds(self) -> float:
        return min(0.3, self.duration / 4)


@dataclass
class Result:
    """One row of the table: a scenario on one store."""

    scenario: str
    store: str
    figure: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None
    status: str = "ok"
    note: str = ""
    metrics: dict[str, Metric] = field(default_factory=dict)
