"""The FACTSTR conformance suite, importable so that any store can prove itself with the same tests.

Use it from a ``conftest.py``::

    pytest_plugins = ["factstr.testing.plugin"]

and a test module that imports the suite::

    from factstr.testing.conformance import *  # noqa: F403

The plugin parametrises the ``backend`` fixture over the stores named in ``FACTSTR_BACKENDS`` (default: every
available built-in store, ``memory,sqlite,postgres,http``, plus the ones added with :func:`register_backend`);
each test gets a fresh, empty database. A store of your own joins by subclassing :class:`Backend` and calling
``register_backend("mine", MyBackend)`` in that ``conftest.py`` (see docs/stores.md).

Needs pytest and hypothesis: ``pip install 'factstr[testing]'``.
"""

import sys
from importlib.util import find_spec


def _installed(name: str) -> bool:
    # A module set to None in sys.modules cannot be imported (that is also how tests hide one).
    return sys.modules[name] is not None if name in sys.modules else find_spec(name) is not None


# The suite is pytest tests and hypothesis strategies: say how to get them before an import deep inside fails.
_missing = [name for name in ("pytest", "hypothesis") if not _installed(name)]
if _missing:
    raise ImportError(
        f"factstr.testing needs pytest and hypothesis ({' and '.join(_missing)} not installed): "
        "pip install 'factstr[testing]'",
        name=_missing[0],
    )

from ._backends import Backend, BackendFactory, backend_names, make_backend, register_backend  # noqa: E402

__all__ = ["Backend", "BackendFactory", "backend_names", "make_backend", "register_backend"]
