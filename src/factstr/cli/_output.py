"""What every command shares: JSON output, one-line errors, a progress bar, and replaying the log batch by batch."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO

from .._model import EventRecord
from .._store import EventStore
from .._wire import encode


class CommandError(Exception):
    """A problem the command reports in one line and exits 1 for (no traceback)."""


class UsageError(CommandError):
    """A command line that cannot work as given; exits 2 like argparse's own usage errors."""


def say(command: str, message: str) -> None:
    """Write a message for people to stderr, prefixed with the command, as every error line is."""
    sys.stderr.write(f"factstr {command}: {message}\n")
    sys.stderr.flush()


def print_json(value: object, out: IO[str] | None = None) -> None:
    """Write one JSON value as one line to stdout (or ``out``)."""
    (out or sys.stdout).write(encode(value).decode() + "\n")


class Progress:
    """A one-line progress indicator on stderr, redrawn at most ten times a second; silent unless a terminal."""

    def __init__(self, label: str, total: int | None, stream: IO[str] | None = None) -> None:
        self._label = label
        self._total = total or 0
        self._stream = stream or sys.stderr
        self._last_draw = 0.0
        self._done = 0
        self._visible = self._stream.isatty()

    def update(self, done: int) -> None:
        self._done = done
        now = time.monotonic()
        if self._visible and now - self._last_draw >= 0.1:
            self._last_draw = now
            self._draw()

    def _draw(self) -> None:
        if self._total:
            share = min(self._done / self._total, 1.0)
            bar = "#" * int(share * 30)
            self._stream.write(f"\r{self._label} [{bar:<30}] {self._done}/{self._total} {share:6.1%}")
        else:
            self._stream.write(f"\r{self._label} {self._done}")
        self._stream.flush()

    def finish(self) -> None:
        if not self._visible:
            return
        self._draw()
        self._stream.write("\n")
        self._stream.flush()


def replay(store: EventStore, on_batch: Callable[[list[EventRecord]], None], label: str) -> int:
    """Call ``on_batch`` with every committed batch up to the current head, in order; return that head.

    It uses a live stream started at the beginning, so batch boundaries come from the store and memory stays
    bounded whatever the size of the log. An error in ``on_batch`` stops the replay and is raised here.
    """
    head = store.head() or 0
    progress = Progress(label, head)
    failures: list[BaseException] = []

    def handler(batch: list[EventRecord]) -> None:
        if failures or batch[0].sequence_number > head:
            return
        try:
            on_batch(batch)
        except BaseException as exc:
            failures.append(exc)
            return
        progress.update(batch[-1].sequence_number)

    if head:
        with store.stream_all(handler, start="beginning") as stream:
            while not stream.wait_until(head, timeout=0.2):
                if failures:
                    break
    progress.finish()
    if failures:
        raise failures[0]
    return head
