"""Feature-owned query models: declare the facts a feature reads and how they fold into its state.

A :class:`QueryModel` is a name, a fact query, an initial state and a pure ``apply(state, records)``. It runs
in one of three modes:

- **continuous** (:func:`run_continuous`): a durable stream keeps the state current as facts commit;
  ``wait_until(sequence_number)`` reads your own writes.
- **on-demand** (:class:`OnDemandQueryModel`): state and cursor are stored; each ``read()`` first folds in
  what was committed since.
- **inline** (:func:`build_inline`): the state is built from a query when asked; nothing is stored.

Persisted states live in the same database as the events (a ``factstr_query_models`` table on SQLite and
PostgreSQL), and each fold commits the state together with its cursor in one transaction, so every event
counts exactly once, across crashes and restarts. States are stored as JSON through msgspec.
"""

from typing import TYPE_CHECKING

from ._admin import Progress, QueryModelInfo, inspect, query_models, rebuild, reset
from ._continuous import ContinuousQueryModel, run_continuous
from ._inline import build_inline
from ._loading import load_query_model
from ._model import QueryModel, QueryModelMismatch, QueryModelReset
from ._on_demand import OnDemandQueryModel
from ._sqlite_state import SQLiteStateStore
from ._state import MemoryStateStore, StateStore, StoredState, state_store_for

if TYPE_CHECKING:
    from ._postgres_state import PostgresStateStore

__all__ = [
    "ContinuousQueryModel",
    "MemoryStateStore",
    "OnDemandQueryModel",
    "PostgresStateStore",
    "Progress",
    "QueryModel",
    "QueryModelInfo",
    "QueryModelMismatch",
    "QueryModelReset",
    "SQLiteStateStore",
    "StateStore",
    "StoredState",
    "build_inline",
    "inspect",
    "load_query_model",
    "query_models",
    "rebuild",
    "reset",
    "run_continuous",
    "state_store_for",
]


def __getattr__(name: str) -> object:
    # PostgresStateStore needs psycopg (the "postgres" extra), so it is imported only when asked for.
    if name == "PostgresStateStore":
        from ._postgres_state import PostgresStateStore

        return PostgresStateStore
    raise AttributeError(f"module 'factstr.projections' has no attribute {name!r}")
