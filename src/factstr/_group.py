"""Group commit: concurrent appends of one process share one commit, and each gets its own outcome.

Appenders queue their batch. Whoever finds no commit in flight becomes the leader: it takes every queued batch
(its own included), commits them with one call, hands each appender its own result or error, and steps down;
the next waiting appender leads the batches queued in the meantime. One appender alone commits at once, with no
added wait; under load a commit carries every batch that arrived while the previous one was in flight.

One caller's batch never fails another's. Validation refuses, before a batch is queued, everything a database
would refuse; if the database still refuses a group's commit as a whole (and so committed none of it), the
leader commits the members one at a time, so that only the batch at fault gets the error.

The SQLite and PostgreSQL stores both append through this module; a store supplies only the function that
commits a list of its batches.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from ._errors import BackendError, EventStoreError
from ._model import AppendResult

Batch = TypeVar("Batch")

Outcome = AppendResult | EventStoreError
"""What one batch of a group comes to: its result, or its own error (a conflict, an unknown outcome, ...)."""


class GroupRefused(Exception):
    """Raised by a commit function when the database refused the whole group and committed none of it.

    The refusal may be caused by any one member, so a group of several is retried member by member; a group of
    one gets ``error``. Raise it only when nothing was committed: a retry must never commit a batch twice.
    """

    def __init__(self, error: EventStoreError) -> None:
        super().__init__(str(error))
        self.error = error


CommitGroup = Callable[[list[Batch]], list[Outcome]]
"""Commits batches in order, atomically as a whole; returns one outcome per batch or raises GroupRefused."""


class _Pending(Generic[Batch]):
    """One appender's batch, waiting in the queue, and then its outcome."""

    __slots__ = ("batch", "done", "outcome")

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.outcome: Outcome | None = None
        self.done = False


class GroupCommitter(Generic[Batch]):
    """Combines the appends of concurrent threads into one commit at a time (leader/follower).

    ``grouping=False`` commits every batch alone (only for measuring what grouping gains).
    """

    def __init__(self, commit: CommitGroup[Batch], *, grouping: bool = True) -> None:
        self._commit = commit
        self._grouping = grouping
        self._condition = threading.Condition()
        self._queue: list[_Pending[Batch]] = []
        self._leading = False

    def append(self, batch: Batch) -> AppendResult:
        """Commit one batch, possibly together with others; return its result or raise its own error."""
        mine = _Pending(batch)
        with self._condition:
            self._queue.append(mine)
            while self._leading and not mine.done:
                self._condition.wait()
            if not mine.done:
                # No commit in flight and this batch is still queued: lead the queued batches.
                self._leading = True
                if self._grouping:
                    group, self._queue = self._queue, []
                else:
                    self._queue.remove(mine)
                    group = [mine]
        if not mine.done:
            self._lead(group)
        outcome = mine.outcome
        if isinstance(outcome, EventStoreError):
            raise outcome
        assert outcome is not None
        return outcome

    def _lead(self, group: list[_Pending[Batch]]) -> None:
        interrupted: BaseException | None = None
        try:
            outcomes = self._outcomes([pending.batch for pending in group])
        except BaseException as exc:  # a bug or an interrupt: every appender must still get an answer
            outcomes = [_failed(exc) for _ in group]
            interrupted = exc
        with self._condition:
            for pending, outcome in zip(group, outcomes, strict=True):
                pending.outcome = outcome
                pending.done = True
            self._leading = False
            self._condition.notify_all()
        if interrupted is not None and not isinstance(interrupted, Exception):
            raise interrupted  # KeyboardInterrupt, SystemExit: the leading thread stops as it was told

    def _outcomes(self, batches: list[Batch]) -> list[Outcome]:
        try:
            outcomes = self._commit(batches)
        except GroupRefused as refused:
            if len(batches) == 1:
                return [refused.error]
            # Nothing was committed and any member may be the cause: each alone, in order, gets its own answer.
            return [self._outcomes([batch])[0] for batch in batches]
        if len(outcomes) != len(batches):
            raise AssertionError(f"a commit of {len(batches)} batches returned {len(outcomes)} outcomes")
        return outcomes


def _failed(exc: BaseException) -> EventStoreError:
    """The error an appender gets when its group's commit raised something unexpected."""
    error = BackendError(f"append failed: {exc!r}")
    error.__cause__ = exc
    return error
