"""Group commit: concurrent appends of one process share one transaction, each with its own outcome.

Appenders queue their batch. Whoever finds no commit in flight becomes the leader: it takes every queued batch
(its own included), commits them with one call, hands each appender its own result or error, and steps down;
the next waiting appender leads the batches queued in the meantime. One appender alone commits at once, with
no added wait; under load a commit carries every batch that arrived while the previous one was in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from .._model import AppendResult
from .._store import Condition
from .._validation import PreparedEvent

Outcome = AppendResult | BaseException


class PendingAppend:
    """One appender's batch, waiting in the queue, and then its outcome."""

    __slots__ = ("condition", "done", "events", "occurred_at", "outcome")

    def __init__(
        self, events: list[PreparedEvent], condition: Condition | None, occurred_at: datetime | None = None
    ) -> None:
        self.events = events
        self.condition = condition
        self.occurred_at = occurred_at  # only for an imported batch
        self.outcome: Outcome | None = None
        self.done = False


# Commits a group in order and returns one outcome per batch; an error for one batch is an exception object.
CommitGroup = Callable[[list[PendingAppend]], list[Outcome]]


class GroupCommitter:
    """Combines the appends of concurrent threads into one commit per round trip (leader/follower)."""

    def __init__(self, commit: CommitGroup) -> None:
        self._commit = commit
        self._condition = threading.Condition()
        self._queue: list[PendingAppend] = []
        self._leading = False

    def append(
        self, events: list[PreparedEvent], condition: Condition | None, occurred_at: datetime | None = None
    ) -> AppendResult:
        """Commit one batch, possibly together with others; return its result or raise its own error."""
        mine = PendingAppend(events, condition, occurred_at)
        with self._condition:
            self._queue.append(mine)
            while self._leading and not mine.done:
                self._condition.wait()
            if not mine.done:
                # No commit in flight and this batch is still queued: lead every queued batch.
                self._leading = True
                group, self._queue = self._queue, []
        if not mine.done:
            self._lead(group)
        outcome = mine.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        assert outcome is not None
        return outcome

    def _lead(self, group: list[PendingAppend]) -> None:
        try:
            outcomes = self._commit(group)
        except BaseException as exc:  # a bug in commit: every batch of the group must still get an answer
            outcomes = [exc] * len(group)
        with self._condition:
            for pending, outcome in zip(group, outcomes, strict=True):
                pending.outcome = outcome
                pending.done = True
            self._leading = False
            self._condition.notify_all()
