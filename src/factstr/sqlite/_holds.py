"""Durable-name holds across processes: one ``flock`` per name on a lock file next to the database.

``flock`` locks belong to an open file description, so a hold excludes every other open of the same file: another
process, and also a second store object in this process. The kernel drops the lock when the descriptor is
closed, which includes the death of the holding process, so a crashed holder never leaves a name stuck.
Lock files are never deleted: deleting one while another opener waits on it would let two holders lock two
different files of the same name.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading

from .._errors import DurableStreamActive


def lock_directory(database_path: str) -> str:
    """Return the directory that holds the lock files of a database: ``<database>.locks``."""
    return database_path + ".locks"


def _lock_path(directory: str, name: str) -> str:
    # Hashing keeps any name (slashes, dots, 200 characters) a safe, fixed-length file name.
    return os.path.join(directory, hashlib.sha256(name.encode()).hexdigest())


class FileHold:
    """An exclusive hold on one durable name; :meth:`release` is idempotent and thread-safe."""

    def __init__(self, descriptor: int) -> None:
        self._descriptor = descriptor
        self._lock = threading.Lock()

    def release(self) -> None:
        """Give the name up (closing the descriptor drops the flock)."""
        with self._lock:
            if self._descriptor >= 0:
                os.close(self._descriptor)
                self._descriptor = -1


def acquire(directory: str, name: str) -> FileHold:
    """Take the hold on ``name`` without waiting, or raise DurableStreamActive."""
    os.makedirs(directory, exist_ok=True)
    descriptor = os.open(_lock_path(directory, name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise DurableStreamActive(f"durable stream {name!r} is already active") from None
    except BaseException:
        os.close(descriptor)
        raise
    return FileHold(descriptor)


def is_held(directory: str, name: str) -> bool:
    """Return whether any holder has ``name``: a shared lock is refused exactly while someone holds it."""
    try:
        descriptor = os.open(_lock_path(directory, name), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False  # never held since the database was created
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # also drops the probe's shared lock
    return False
