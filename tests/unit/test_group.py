"""The one group committer (factstr._group) with a fake commit function: grouping, own outcomes, isolation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from factstr import AppendResult, BackendError, ConditionalAppendConflict, InvalidInput
from factstr._group import GroupCommitter, GroupRefused, Outcome

POISON = -1


class FakeLog:
    """A log that commits groups of ints atomically and refuses any group holding POISON."""

    def __init__(self) -> None:
        self.committed: list[int] = []
        self.calls: list[list[int]] = []
        self.lock = threading.Lock()

    def commit(self, group: list[int]) -> list[Outcome]:
        with self.lock:
            self.calls.append(list(group))
            if POISON in group:
                raise GroupRefused(InvalidInput("the database refused a value"))
            outcomes: list[Outcome] = []
            for value in group:
                self.committed.append(value)
                number = len(self.committed)
                outcomes.append(AppendResult(number, number, 1))
            return outcomes


def in_threads(count: int, work: Callable[[int], object]) -> None:
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        work(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_appends_queued_behind_a_commit_in_flight_go_together() -> None:
    release = threading.Event()
    groups: list[list[int]] = []

    def commit(group: list[int]) -> list[Outcome]:
        groups.append(list(group))
        if len(groups) == 1:
            release.wait(5)
        return [AppendResult(value, value, 1) for value in group]

    committer = GroupCommitter(commit)
    results: dict[int, AppendResult] = {}

    def append(value: int) -> None:
        results[value] = committer.append(value)

    first = threading.Thread(target=append, args=(0,))
    first.start()
    while not groups:
        time.sleep(0.001)
    others = [threading.Thread(target=append, args=(value,)) for value in range(1, 6)]
    for thread in others:
        thread.start()
    time.sleep(0.2)  # let every other appender queue up behind the first commit
    release.set()
    for thread in [first, *others]:
        thread.join()
    assert groups[0] == [0]
    assert sorted(groups[1]) == [1, 2, 3, 4, 5]
    assert results == {value: AppendResult(value, value, 1) for value in range(6)}


def test_each_appender_gets_its_own_outcome_or_error() -> None:
    def commit(group: list[str]) -> list[Outcome]:
        return [
            ConditionalAppendConflict(None, 7) if batch == "conditional" else AppendResult(1, 1, 1) for batch in group
        ]

    committer = GroupCommitter(commit)
    assert committer.append("plain") == AppendResult(1, 1, 1)
    with pytest.raises(ConditionalAppendConflict) as raised:
        committer.append("conditional")
    assert raised.value.actual == 7


def test_a_refused_group_is_retried_member_by_member_so_only_the_bad_batch_fails() -> None:
    log = FakeLog()
    release = threading.Event()
    started = threading.Event()
    inner = log.commit

    def commit(group: list[int]) -> list[Outcome]:
        if not started.is_set():
            started.set()
            release.wait(5)  # hold the first commit so that the others queue up as one group
        return inner(group)

    committer = GroupCommitter(commit)
    outcomes: dict[int, AppendResult | Exception] = {}

    def append(value: int) -> None:
        try:
            outcomes[value] = committer.append(value)
        except Exception as exc:
            outcomes[value] = exc

    first = threading.Thread(target=append, args=(100,))
    first.start()
    started.wait(5)
    others = [threading.Thread(target=append, args=(value,)) for value in (1, 2, POISON, 3, 4)]
    for thread in others:
        thread.start()
    time.sleep(0.2)
    release.set()
    for thread in [first, *others]:
        thread.join()

    assert isinstance(outcomes.pop(POISON), InvalidInput)
    assert all(isinstance(outcome, AppendResult) for outcome in outcomes.values())
    assert sorted(log.committed) == [1, 2, 3, 4, 100]
    grouped = log.calls[1]
    assert sorted(grouped) == sorted([1, 2, POISON, 3, 4])
    # After the refused group, each member alone, in the group's order.
    assert log.calls[2:] == [[value] for value in grouped]


def test_a_refused_batch_alone_gets_the_refusal() -> None:
    log = FakeLog()
    committer = GroupCommitter(log.commit)
    with pytest.raises(InvalidInput, match="refused"):
        committer.append(POISON)
    assert log.calls == [[POISON]]
    assert committer.append(5) == AppendResult(1, 1, 1)


def test_many_good_writers_and_one_poisoner_all_good_appends_succeed() -> None:
    log = FakeLog()
    committer = GroupCommitter(log.commit)
    failures: list[tuple[int, object]] = []
    refused = 0
    done = threading.Event()

    def work(index: int) -> None:
        nonlocal refused
        if index == 0:
            while not done.is_set() or refused < 50:
                try:
                    failures.append((index, committer.append(POISON)))
                except InvalidInput:
                    refused += 1
            return
        for round_ in range(50):
            try:
                committer.append(index * 1000 + round_)
            except Exception as exc:
                failures.append((index, exc))
        if index == 1:
            done.set()

    in_threads(8, work)
    assert failures == []
    assert refused > 0
    assert len(log.committed) == 7 * 50 and POISON not in log.committed


def test_other_failures_go_to_every_member_without_a_retry() -> None:
    calls: list[list[int]] = []

    def commit(group: list[int]) -> list[Outcome]:
        calls.append(list(group))
        return [BackendError("the database is down") for _ in group]

    committer = GroupCommitter(commit)
    with pytest.raises(BackendError, match="down"):
        committer.append(1)
    assert calls == [[1]]


def test_an_unexpected_exception_in_commit_still_answers_every_appender() -> None:
    def commit(group: list[int]) -> list[Outcome]:
        raise RuntimeError("a bug")

    committer = GroupCommitter(commit)
    with pytest.raises(BackendError, match="a bug") as raised:
        committer.append(1)
    assert isinstance(raised.value.__cause__, RuntimeError)
    # The committer is not stuck: the next append leads again.
    with pytest.raises(BackendError):
        committer.append(2)


def test_without_grouping_every_batch_commits_alone() -> None:
    log = FakeLog()
    committer = GroupCommitter(log.commit, grouping=False)
    in_threads(6, lambda index: committer.append(index))
    assert sorted(log.committed) == list(range(6))
    assert all(len(call) == 1 for call in log.calls)
