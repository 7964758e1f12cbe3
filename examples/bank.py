"""A small bank, built feature by feature on one log of facts.

Each command reads the facts of its context, decides, and appends with ``append_if`` against the version it
read; a conflicting concurrent command makes it read and decide again. No balance is stored anywhere: it is
folded from the facts when a command needs it, and a query model keeps every balance for the screens.

Run it: ``python examples/bank.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from factstr import (
    ConditionalAppendConflict,
    EventFilter,
    EventQuery,
    EventRecord,
    EventStore,
    MemoryStore,
    NewEvent,
)
from factstr.projections import QueryModel, run_continuous

ACCOUNT_EVENTS = ["AccountOpened", "MoneyDeposited", "MoneyWithdrawn"]


class BankError(Exception):
    """A command was refused by a business rule."""


class AccountAlreadyExists(BankError):
    """An account with this id was opened before."""


class UnknownAccount(BankError):
    """No account with this id was opened."""


class InsufficientFunds(BankError):
    """The account's balance does not cover the amount."""


def account_facts(*accounts: str) -> EventQuery:
    """The context of commands on these accounts: every fact about any of them."""
    return EventQuery(
        filters=[EventFilter(event_types=ACCOUNT_EVENTS, payload_predicates=[{"account": a} for a in accounts])]
    )


def balance_of(account: str, records: Sequence[EventRecord]) -> int:
    """Fold an account's facts into its balance; raise UnknownAccount if it was never opened."""
    opened = False
    balance = 0
    for record in records:
        if record.payload["account"] != account:
            continue
        if record.event_type == "AccountOpened":
            opened = True
        elif record.event_type == "MoneyDeposited":
            balance += record.payload["amount"]
        elif record.event_type == "MoneyWithdrawn":
            balance -= record.payload["amount"]
    if not opened:
        raise UnknownAccount(account)
    return balance


def decide_and_append(
    store: EventStore,
    context: EventQuery,
    decide: Callable[[list[EventRecord]], list[NewEvent]],
    attempts: int = 50,
) -> int:
    """Read the context, decide, append if nothing changed meanwhile; retry on a conflict.

    Returns the sequence number of the last appended fact.
    """
    for _ in range(attempts):
        facts = store.query(context)
        events = decide(facts.event_records)
        try:
            return store.append_if(events, context, facts.current_context_version).last_sequence_number
        except ConditionalAppendConflict:
            continue  # someone else changed this context: read it again and decide again
    raise BankError(f"gave up after {attempts} conflicting attempts")


def open_account(store: EventStore, account: str, owner: str) -> int:
    """Open an account; ids are unique: a second opening raises AccountAlreadyExists."""
    opened = EventQuery(filters=[EventFilter(event_types=["AccountOpened"], payload_predicates=[{"account": account}])])
    try:
        # Expecting version None means "no matching fact may exist": the check and the write are atomic.
        result = store.append_if([NewEvent("AccountOpened", {"account": account, "owner": owner})], opened, None)
    except ConditionalAppendConflict:
        raise AccountAlreadyExists(account) from None
    return result.last_sequence_number


def _check_amount(amount: int) -> None:
    if type(amount) is not int or amount <= 0:
        raise BankError(f"amounts are positive whole numbers of cents, got {amount!r}")


def deposit(store: EventStore, account: str, amount: int) -> int:
    """Put money into an open account."""
    _check_amount(amount)

    def decide(records: list[EventRecord]) -> list[NewEvent]:
        balance_of(account, records)  # raises UnknownAccount
        return [NewEvent("MoneyDeposited", {"account": account, "amount": amount})]

    return decide_and_append(store, account_facts(account), decide)


def withdraw(store: EventStore, account: str, amount: int) -> int:
    """Take money out; never below zero, whatever runs concurrently."""
    _check_amount(amount)

    def decide(records: list[EventRecord]) -> list[NewEvent]:
        if balance_of(account, records) < amount:
            raise InsufficientFunds(account)
        return [NewEvent("MoneyWithdrawn", {"account": account, "amount": amount})]

    return decide_and_append(store, account_facts(account), decide)


def transfer(store: EventStore, source: str, target: str, amount: int, transfer_id: str) -> int:
    """Move money between two accounts in one batch: both facts commit together or not at all."""
    _check_amount(amount)
    if source == target:
        raise BankError("a transfer needs two different accounts")

    def decide(records: list[EventRecord]) -> list[NewEvent]:
        balance_of(target, records)  # the target must exist too
        if balance_of(source, records) < amount:
            raise InsufficientFunds(source)
        return [
            NewEvent("MoneyWithdrawn", {"account": source, "amount": amount, "transfer": transfer_id}),
            NewEvent("MoneyDeposited", {"account": target, "amount": amount, "transfer": transfer_id}),
        ]

    # The context covers both accounts: a concurrent change to either one makes this attempt conflict.
    return decide_and_append(store, account_facts(source, target), decide)


def apply_balances(balances: dict[str, int], records: list[EventRecord]) -> dict[str, int]:
    """The balances query model: every account's balance, folded from the facts."""
    updated = dict(balances)
    for record in records:
        account = record.payload["account"]
        if record.event_type == "AccountOpened":
            updated[account] = 0
        elif record.event_type == "MoneyDeposited":
            updated[account] += record.payload["amount"]
        elif record.event_type == "MoneyWithdrawn":
            updated[account] -= record.payload["amount"]
    return updated


BALANCES: QueryModel[dict[str, int]] = QueryModel(
    "bank.balances", EventQuery(filters=[EventFilter(event_types=ACCOUNT_EVENTS)]), {}, apply_balances
)


def main() -> dict[str, Any]:
    """Open two accounts, move money, show what the rules refuse, and print the balances."""
    with MemoryStore() as store, run_continuous(store, BALANCES) as balances:
        open_account(store, "alice", "Alice")
        open_account(store, "bob", "Bob")
        deposit(store, "alice", 100_00)
        last = transfer(store, "alice", "bob", 30_00, transfer_id="t-1")
        refused = []
        try:
            open_account(store, "bob", "Robert")
        except AccountAlreadyExists as error:
            refused.append(type(error).__name__)
        try:
            withdraw(store, "bob", 50_00)
        except InsufficientFunds as error:
            refused.append(type(error).__name__)
        balances.wait_until(last, timeout=10)
        print("balances:", balances.state)
        print("refused:", refused)
        return {"balances": balances.state, "refused": refused}


if __name__ == "__main__":
    main()
