"""The systems of a side-by-side run (``--peers``): FACTSTR's stores and the peers behind one small interface.

A scenario that compares systems may only use what every system offers, with the same meaning everywhere:
append, read a context, append on the condition that the context did not change since that read, read the
log in pages, follow what is committed. A *context* (:class:`Selector`) is "the events of these types whose
payload has ``field = value``": FACTSTR reads it with a filter of those types and the payload predicate
``{field: value}``; a DCB event store (UmaDB, eventsourcing) with a query item of those types and the tag
``field:value``, which every event carries for the fields the scenarios select by (:data:`TAG_FIELDS`).
The append condition is the position the read returned: FACTSTR's ``current_context_version``, the DCB
read's head.

A :class:`Log` that other processes can reach has a ``spec``: a JSON object from which
:func:`open_log` opens the same log in a subprocess (``bench.worker``).
"""

from __future__ import annotations

import abc
import importlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from factstr import ConditionalAppendConflict, EventFilter, EventQuery, EventStore, NewEvent

from .targets import Target

TAG_FIELDS = ("account", "bucket", "counter")
"""Payload fields the scenarios select by: the DCB peers get one tag ``field:value`` per such field."""

Spec = dict[str, Any]


class RecordLike(Protocol):
    """A committed event as the scenarios read it (FACTSTR's ``EventRecord`` and the peers' records)."""

    @property
    def sequence_number(self) -> int: ...

    @property
    def event_type(self) -> str: ...

    @property
    def payload(self) -> Any: ...


Handler = Callable[[Sequence[RecordLike]], None]


@dataclass(frozen=True)
class Selector:
    """A context or a selective query: the events of ``types`` whose payload has ``field == value``."""

    types: tuple[str, ...]
    field: str
    value: str | int

    @property
    def tag(self) -> str:
        """The DCB tag that stands for ``field == value``."""
        return f"{self.field}:{self.value}"

    def event_query(self) -> EventQuery:
        """The same selection as a FACTSTR query."""
        return EventQuery(
            filters=[EventFilter(event_types=list(self.types), payload_predicates=[{self.field: self.value}])]
        )


def tags_of(payload: Any) -> list[str]:
    """The DCB tags of an event: one per :data:`TAG_FIELDS` entry its payload has."""
    if not isinstance(payload, dict):
        return []
    return [f"{name}:{payload[name]}" for name in TAG_FIELDS if name in payload]


class Following(Protocol):
    """A live subscription started by :meth:`Log.follow`."""

    def stop(self) -> None: ...


class Log(abc.ABC):
    """One empty log of one system, opened for a scenario."""

    spec: Spec | None = None
    """How a subprocess opens this log with :func:`open_log`; None when it cannot (Memory)."""

    @abc.abstractmethod
    def append(self, events: Sequence[NewEvent]) -> int:
        """Append unconditionally; return the position of the last event."""

    @abc.abstractmethod
    def read(self, selector: Selector) -> tuple[Sequence[RecordLike], int | None]:
        """Read a context: its records in order, and the position an append condition must name."""

    @abc.abstractmethod
    def append_if(self, events: Sequence[NewEvent], selector: Selector, after: int | None) -> int | None:
        """Append unless an event of the context was appended after ``after``; None on that conflict."""

    @abc.abstractmethod
    def page(self, after: int, limit: int) -> Sequence[RecordLike]:
        """Up to ``limit`` records of the whole log after position ``after``, in order."""

    @abc.abstractmethod
    def head(self) -> int:
        """The last position (0 for an empty log)."""

    @abc.abstractmethod
    def follow(self, handler: Handler) -> Following:
        """Call ``handler`` (in another thread) with what is committed from now on, in order."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release what this log holds (connections, its server); the system removes the data itself."""


class System(abc.ABC):
    """FACTSTR on one store, or a peer: opens fresh logs, reports its settings, cleans up."""

    name: str = ""
    """The column heading, e.g. ``FACTSTR sqlite`` or ``UmaDB``."""
    kind: str = ""
    """``factstr`` or ``peer``."""
    key: str = ""
    """The short name used on the command line and in the JSON (``sqlite``, ``umadb``...)."""

    def __init__(self) -> None:
        self._logs: list[Log] = []

    def open(self, label: str) -> Log:
        """A new, empty log called ``label`` (each label once per run)."""
        log = self._open(label)
        self._logs.append(log)
        return log

    @abc.abstractmethod
    def _open(self, label: str) -> Log: ...

    @abc.abstractmethod
    def settings(self) -> dict[str, str]:
        """What a reader must know about this system's configuration (version, durability)."""

    @property
    def shared(self) -> bool:
        """Whether other processes can open this system's logs (multi-process scenarios)."""
        return True

    def close(self) -> None:
        """Close every log, stop what was started, remove the scratch data."""
        for log in self._logs:
            log.close()
        self._logs.clear()


# --- FACTSTR ---------------------------------------------------------------------------------------------


class FactstrLog(Log):
    """A FACTSTR store: contexts are payload predicates, the condition is ``current_context_version``."""

    def __init__(self, store: EventStore, spec: Spec | None) -> None:
        self.store = store
        self.spec = spec

    def append(self, events: Sequence[NewEvent]) -> int:
        return self.store.append(events).last_sequence_number

    def read(self, selector: Selector) -> tuple[Sequence[RecordLike], int | None]:
        result = self.store.query(selector.event_query())
        return result.event_records, result.current_context_version

    def append_if(self, events: Sequence[NewEvent], selector: Selector, after: int | None) -> int | None:
        try:
            return self.store.append_if(events, selector.event_query(), after).last_sequence_number
        except ConditionalAppendConflict:
            return None

    def page(self, after: int, limit: int) -> Sequence[RecordLike]:
        return self.store.query(EventQuery(min_sequence_number=after, limit=limit)).event_records

    def head(self) -> int:
        return self.store.head() or 0

    def follow(self, handler: Handler) -> Following:
        return _FactstrFollowing(self.store.stream_all(handler))

    def close(self) -> None:
        self.store.close()


class _FactstrFollowing:
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def stop(self) -> None:
        self._stream.unsubscribe()


class FactstrSystem(System):
    """FACTSTR on one of its stores (a harness :class:`~bench.targets.Target`)."""

    kind = "factstr"

    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target
        self.key = target.name
        self.name = f"FACTSTR {target.name}"

    @property
    def shared(self) -> bool:
        return self.target.shares_database

    def _open(self, label: str) -> Log:
        opened = self.target.open(label)
        spec = None if opened.url is None else {"system": "factstr", "url": opened.url, "options": opened.options}
        return FactstrLog(opened.store, spec)

    def settings(self) -> dict[str, str]:
        return self.target.settings()

    def close(self) -> None:
        # The target closes the stores it opened (and removes their files or schemas).
        self._logs.clear()
        self.target.close()


# --- opening a log in a subprocess -----------------------------------------------------------------------


def open_log(spec: Spec) -> Log:
    """Open, in this process, the log another process described with ``Log.spec``."""
    system = spec["system"]
    if system == "factstr":
        factstr = importlib.import_module("factstr")
        return FactstrLog(factstr.connect(spec["url"], **spec.get("options", {})), spec)
    from . import peers

    return peers.open_peer_log(spec)


class Deliveries:
    """What a follower received: the time each position arrived, and a way to wait for one of them."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._condition = threading.Condition()
        self.last = 0
        self.records: list[tuple[RecordLike, float]] = []
        self.out_of_order: list[tuple[int, int]] = []

    def __call__(self, batch: Sequence[RecordLike]) -> None:
        now = self._clock()
        with self._condition:
            for record in batch:
                if record.sequence_number <= self.last:
                    self.out_of_order.append((self.last, record.sequence_number))
                self.last = record.sequence_number
                self.records.append((record, now))
            self._condition.notify_all()

    def wait_for(self, position: int, timeout: float) -> bool:
        """Wait until ``position`` (or a later one) was delivered; False when ``timeout`` passed first."""
        with self._condition:
            return self._condition.wait_for(lambda: self.last >= position, timeout)

    def take(self) -> list[tuple[RecordLike, float]]:
        """The records delivered since the last call, with their arrival times."""
        with self._condition:
            taken, self.records = self.records, []
            return taken
