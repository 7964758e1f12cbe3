"""The bank example: unique accounts, and money that never goes below zero under concurrent commands."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import bank
import pytest

from factstr import EventQuery, EventStore
from factstr.projections import run_continuous


def run_concurrently(count: int, action: Callable[[int], None]) -> None:
    start = threading.Barrier(count)

    def worker(index: int) -> None:
        start.wait()
        action(index)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_an_account_id_can_be_opened_once(store: EventStore) -> None:
    bank.open_account(store, "acc-1", "Ann")
    with pytest.raises(bank.AccountAlreadyExists):
        bank.open_account(store, "acc-1", "Someone else")


def test_concurrent_openings_of_one_id_let_exactly_one_win(store: EventStore) -> None:
    outcomes: list[str] = []

    def attempt(index: int) -> None:
        try:
            bank.open_account(store, "acc-1", f"owner {index}")
            outcomes.append("opened")
        except bank.AccountAlreadyExists:
            outcomes.append("refused")

    run_concurrently(8, attempt)
    assert sorted(outcomes) == ["opened"] + ["refused"] * 7


def test_money_moves_only_between_open_accounts(store: EventStore) -> None:
    with pytest.raises(bank.UnknownAccount):
        bank.deposit(store, "nobody", 5)
    bank.open_account(store, "a", "Ann")
    with pytest.raises(bank.UnknownAccount):
        bank.transfer(store, "a", "nobody", 5, transfer_id="t")
    with pytest.raises(bank.BankError):
        bank.deposit(store, "a", -5)


def test_concurrent_withdrawals_never_overdraw(store: EventStore) -> None:
    bank.open_account(store, "a", "Ann")
    bank.deposit(store, "a", 100)
    succeeded: list[int] = []

    def attempt(index: int) -> None:
        for _ in range(2):
            try:
                bank.withdraw(store, "a", 10)
                succeeded.append(index)
            except bank.InsufficientFunds:
                pass

    run_concurrently(12, attempt)
    assert len(succeeded) == 10
    assert bank.balance_of("a", store.query(bank.account_facts("a")).event_records) == 0


def test_concurrent_transfers_never_overdraw_and_keep_the_total(store: EventStore) -> None:
    for account in ("a", "b"):
        bank.open_account(store, account, account.upper())
        bank.deposit(store, account, 50)

    def attempt(index: int) -> None:
        source, target = ("a", "b") if index % 2 == 0 else ("b", "a")
        for round_number in range(6):
            with contextlib.suppress(bank.InsufficientFunds):
                bank.transfer(store, source, target, 9, transfer_id=f"t-{index}-{round_number}")

    run_concurrently(8, attempt)
    # Replay the whole log in order: no account is ever below zero, and no money appears or vanishes.
    running: dict[str, int] = {}
    for record in store.query(EventQuery()).event_records:
        running = bank.apply_balances(running, [record])
        assert all(balance >= 0 for balance in running.values()), record
    assert sum(running.values()) == 100


def test_balances_query_model_follows_every_command(store: EventStore) -> None:
    with run_continuous(store, bank.BALANCES) as balances:
        bank.open_account(store, "a", "Ann")
        bank.open_account(store, "b", "Ben")
        bank.deposit(store, "a", 70)
        last = bank.transfer(store, "a", "b", 20, transfer_id="t-1")
        assert balances.wait_until(last, timeout=10)
        assert balances.state == {"a": 50, "b": 20}


def test_the_bank_example_runs() -> None:
    result = bank.main()
    assert result == {
        "balances": {"alice": 70_00, "bob": 30_00},
        "refused": ["AccountAlreadyExists", "InsufficientFunds"],
    }
