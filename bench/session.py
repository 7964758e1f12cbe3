"""One store's run: the target, the settings, and the logs shared between scenarios (filled once)."""

from __future__ import annotations

from .data import fill
from .model import Settings
from .targets import Opened, Target


class Session:
    """The state the scenarios of one store share.

    ``history(size)`` is a log holding exactly the history events ``0..size-1`` when first asked for; the
    scenarios that only read it run before those that append to it (see ``cli.ORDER``), and every check
    that counts is relative to the head it saw.
    """

    def __init__(self, target: Target, settings: Settings, *, quiet: bool = False) -> None:
        self.target = target
        self.settings = settings
        self.quiet = quiet
        self._histories: dict[int, Opened] = {}
        self.fill_seconds: dict[int, float] = {}

    def history(self, size: int) -> Opened:
        opened = self._histories.get(size)
        if opened is None:
            opened = self.target.open(f"history-{size}")
            self.fill_seconds[size] = fill(opened.store, size, f"{self.target.name} history {size:,}", quiet=self.quiet)
            self._histories[size] = opened
        return opened

    def fresh(self, label: str) -> Opened:
        return self.target.open(label)

    @property
    def sizes(self) -> tuple[int, int]:
        """The two history sizes compared: small (10k) and N."""
        return self.settings.small, self.settings.events
