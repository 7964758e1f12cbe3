"""A Python client for the FACTSTR HTTP API: :class:`HTTPStore` implements the store contract over HTTP.

It needs nothing beyond factstr itself (the standard library speaks HTTP/1.1 and server-sent events), so
``pip install factstr`` is enough to talk to a ``factstr serve`` anywhere.
"""

from ._store import HTTPStore

__all__ = ["HTTPStore"]
