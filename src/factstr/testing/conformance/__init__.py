"""The conformance suite: one test per behaviour of the contract (docs/contract.md), run against every store.

One module per clause (``c1_values`` ... ``c9_contract_extensions``). Each test takes the ``store`` fixture (a store
on a fresh, empty database) or the ``backend`` fixture (to open more handles on the same database). Test names say the
behaviour they protect; the docstring names the clause. ``from factstr.testing.conformance import *`` collects
every clause."""

from __future__ import annotations

from . import (
    c1_values,
    c2_matching,
    c3_query,
    c4_append,
    c5_conditional_append,
    c6_1_durable_streams,
    c6_streams,
    c7_errors,
    c8_extensions,
    c9_contract_extensions,
)
from .c1_values import *  # noqa: F403
from .c2_matching import *  # noqa: F403
from .c3_query import *  # noqa: F403
from .c4_append import *  # noqa: F403
from .c5_conditional_append import *  # noqa: F403
from .c6_1_durable_streams import *  # noqa: F403
from .c6_streams import *  # noqa: F403
from .c7_errors import *  # noqa: F403
from .c8_extensions import *  # noqa: F403
from .c9_contract_extensions import *  # noqa: F403

CLAUSE_MODULES = (
    c1_values,
    c2_matching,
    c3_query,
    c4_append,
    c5_conditional_append,
    c6_streams,
    c6_1_durable_streams,
    c7_errors,
    c8_extensions,
    c9_contract_extensions,
)

__all__ = sorted(name for module in CLAUSE_MODULES for name in module.__all__)
