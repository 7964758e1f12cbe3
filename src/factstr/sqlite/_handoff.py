"""Hand-offs: a writer of one process that waits for the writers' lock lets the holder commit its appends.

With ``synchronous=FULL`` every commit holds SQLite's write lock through its sync to disk, so writers of several
processes that each commit alone can be no faster together than one of them. A writer that finds the writers'
lock (:mod:`._writelock`) taken therefore *offers* its appends before it waits: it writes them to a file
``<id>.offer`` in ``<database>.locks/handoff/`` (written under a temporary name and renamed, so that a reader
never sees half of it). Whoever holds the lock, in any process, *takes* the offers it finds before its commit (it
renames each to ``<id>.taken``, which only one taker can do), writes their appends in its own transaction, each
with its own condition checked in order, and records a *receipt* for each append it wrote: a row of the
``handoffs`` table (``<id>/<index>`` and the append's numbers), in the same transaction. One sync to disk then
carries the appends of several processes.

The offering writer learns its outcome from the log, not from the taker: when it gets the writers' lock in its
turn, it withdraws its offer (deletes ``<id>.offer``). If that succeeds nobody took it, and it commits as usual.
If the offer was taken, every transaction that could hold its appends is over (its taker held the lock, now
released, by commit, rollback or death), so a receipt is there exactly when the append is committed: it returns
those, and commits itself, as usual, each append without a receipt (one whose condition failed in the taker's
transaction, which the writer's own check turns into its conflict with the context's facts, or one the taker
never committed). Nothing is ever acknowledged before the commit that holds it, and a taker killed at any moment
leaves each offered append either committed with its receipt or not committed at all.

Receipts are deleted by later takers once the offer's file is gone (the offering writer deletes its
``.taken`` file after reading them); the ``.taken`` file of a writer that died is deleted by the next taker.
Offers hold only what validation accepted: event types, payloads as JSON text, the term documents, and the
condition. Appends with an idempotency key or an imported commit time are never offered.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from typing import NamedTuple

import msgspec

from .._matching import Filter, Filters
from .._model import JSON

_OFFER = ".offer"
_TAKEN = ".taken"
_WRITING = ".writing"

# The most events one transaction takes from other processes: a taker's own append waits for what it carries.
TAKE_EVENTS_LIMIT = 10_000


class Offered(msgspec.Struct, array_like=True, frozen=True):
    """One append as written to an offer: its events (type, payload JSON), term documents and condition."""

    events: list[tuple[str, str]]
    documents: list[str]
    conditional: bool
    filters: tuple[tuple[tuple[str, ...] | None, tuple[JSON, ...] | None], ...] | None
    expected: int | None

    def condition_filters(self) -> Filters:
        """The condition's filters as the matcher takes them."""
        if self.filters is None:
            return None
        return tuple(Filter(types, predicates) for types, predicates in self.filters)


_encode = msgspec.json.Encoder().encode
_decode_offer = msgspec.json.Decoder(list[Offered]).decode


class Taken(NamedTuple):
    """An offer taken by the lock holder: its id (receipts are ``<id>/<index>``) and its appends."""

    offer_id: str
    appends: list[Offered]


class HandOff:
    """The hand-off directory of one database, as seen by one store object."""

    def __init__(self, directory: str) -> None:
        self._directory = directory
        os.makedirs(directory, exist_ok=True)
        # Ids are unique across processes (pid), store objects (random part) and appends (counter).
        self._prefix = f"{os.getpid()}-{secrets.token_hex(4)}-"
        self._counter = itertools.count()

    # --- the offering writer -------------------------------------------------------------------------------

    def offer(self, appends: list[Offered]) -> str:
        """Write an offer; return its id."""
        offer_id = self._prefix + str(next(self._counter))
        path = os.path.join(self._directory, offer_id)
        with open(path + _WRITING, "wb") as file:
            file.write(_encode(appends))
        os.rename(path + _WRITING, path + _OFFER)
        return offer_id

    def withdraw(self, offer_id: str) -> bool:
        """Delete an offer nobody took; return False when it was taken (its receipts tell what was committed)."""
        try:
            os.unlink(os.path.join(self._directory, offer_id + _OFFER))
        except FileNotFoundError:
            return False
        return True

    def forget(self, offer_id: str) -> None:
        """Delete a taken offer once its receipts were read: later takers then delete the receipts."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self._directory, offer_id + _TAKEN))

    # --- the lock holder -----------------------------------------------------------------------------------

    def take(self) -> tuple[list[Taken], set[str]]:
        """Take the waiting offers (up to :data:`TAKE_EVENTS_LIMIT` events); call only while holding the lock.

        Returns the offers taken and the ids of every offer whose file still exists (their receipts are kept).
        """
        taken: list[Taken] = []
        live: set[str] = set()
        budget = TAKE_EVENTS_LIMIT
        try:
            entries = list(os.scandir(self._directory))
        except FileNotFoundError:
            return taken, live
        for entry in entries:
            name = entry.name
            if name.endswith(_TAKEN):
                offer_id = name[: -len(_TAKEN)]
                if _writer_died(offer_id):
                    _unlink(entry.path)
                else:
                    live.add(offer_id)
            elif name.endswith(_OFFER):
                offer_id = name[: -len(_OFFER)]
                if _writer_died(offer_id):
                    _unlink(entry.path)  # its writer cannot learn the outcome: leave its appends uncommitted
                    continue
                live.add(offer_id)
                if budget <= 0:
                    continue
                try:
                    with open(entry.path, "rb") as file:
                        appends = _decode_offer(file.read())
                    # Only one taker can rename it, and never after its writer withdrew it.
                    os.rename(entry.path, entry.path[: -len(_OFFER)] + _TAKEN)
                except (OSError, msgspec.ValidationError, msgspec.DecodeError):
                    continue  # withdrawn meanwhile, or not an offer: its writer commits it itself
                taken.append(Taken(offer_id, appends))
                budget -= sum(len(append.events) for append in appends)
            elif name.endswith(_WRITING) and _writer_died(name[: -len(_WRITING)]):
                _unlink(entry.path)
        return taken, live


def receipt_id(offer_id: str, index: int) -> str:
    """The key of the receipt of the ``index``-th append of an offer."""
    return f"{offer_id}/{index:d}"


def offer_of(receipt: str) -> str:
    """The id of the offer a receipt belongs to."""
    return receipt.rpartition("/")[0]


def _writer_died(offer_id: str) -> bool:
    """Whether the process that wrote an offer is gone (its pid is the id's first part)."""
    try:
        pid = int(offer_id.partition("-")[0])
    except ValueError:
        return True
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
