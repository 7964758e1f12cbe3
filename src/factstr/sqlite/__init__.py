"""The SQLite store: ``factstr.SQLiteStore`` / ``factstr.connect("sqlite:///file.db")``.

Only :class:`SQLiteStore` is public; the modules next to this one are its parts (schema, SQL, connections,
durable-name holds, the cross-process watcher).
"""

from ._store import SQLiteStore

__all__ = ["SQLiteStore"]
