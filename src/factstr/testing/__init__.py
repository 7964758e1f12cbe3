"""The FACTSTR conformance suite, importable so that any store can prove itself with the same tests.

Use it from a ``conftest.py``::

    pytest_plugins = ["factstr.testing.plugin"]

and a test module that imports the suite::

    from factstr.testing.conformance import *  # noqa: F403

The plugin parametrises the ``backend`` fixture over the stores named in ``FACTSTR_BACKENDS`` (default: all of
``memory,sqlite,postgres,http``); each test gets a fresh, empty database. Requires pytest and hypothesis.
"""

from ._backends import Backend, backend_names, make_backend

__all__ = ["Backend", "backend_names", "make_backend"]
