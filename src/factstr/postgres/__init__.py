"""The PostgreSQL store: ``factstr.PostgresStore`` (needs the ``postgres`` extra: psycopg 3 and its pool)."""

from ._store import PostgresStore

__all__ = ["PostgresStore"]
