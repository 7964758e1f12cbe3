"""Wake-ups between processes: a writer that committed tells every following store on the file to look.

A store whose streams follow the log registers a named pipe (FIFO) in ``<database>.locks/wake/`` and waits on
it. A writer, after each commit, writes one byte to every registered pipe without blocking. The byte carries
nothing: the follower reads the log itself to find what is new, so a lost or extra wake-up costs latency or one
read, never a batch, and the follower's slow poll of ``PRAGMA data_version`` still covers writers that cannot
wake it (another program, a directory it may not write to).

Named pipes need no path-length limit (unlike Unix sockets) and tell a writer when their follower is gone: the
kernel refuses to open a pipe nobody reads (ENXIO) and fails a write to one whose reader closed it (EPIPE), so
writers remove the registrations of followers that died, even by SIGKILL. A follower keeps a write end of its
own pipe open, so that its reader never sees end-of-file and its watcher can be woken to stop.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import stat
import time

logger = logging.getLogger("factstr")

# Directory mtimes come from a coarse clock on some kernels and file systems: a registration made in the same
# tick as a writer's listing can leave the mtime unchanged. A listing younger than this after the directory's
# mtime is not trusted, and the writer lists the directory again at its next commit.
_MTIME_GRANULARITY_NS = 50_000_000
_PREFIX = "f-"  # a registered pipe; anything else in the directory (a pipe being set up) is ignored
_SUFFIX_SETTING_UP = ".new"


def wake_directory(locks_directory: str) -> str:
    """Return the directory of the followers' pipes of a database."""
    return os.path.join(locks_directory, "wake")


class WakeChannel:
    """A follower's registered pipe: its descriptor becomes readable when a writer of another store committed."""

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.name = f"{_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"
        self._path = os.path.join(directory, self.name)
        # Set up under a name writers ignore, then renamed into place: a writer never finds the pipe without its
        # reader (it would take the follower for dead and remove it).
        staging = self._path + _SUFFIX_SETTING_UP
        os.mkfifo(staging, 0o666)
        try:
            self._read_end = os.open(staging, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            self._write_end = os.open(staging, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            os.rename(staging, self._path)
        except BaseException:
            _remove(staging)
            self._close_ends()
            raise

    def fileno(self) -> int:
        """The descriptor to wait on (readable after a wake-up)."""
        return self._read_end

    def drain(self) -> None:
        """Consume every pending wake-up (they all mean the same: look)."""
        try:
            while os.read(self._read_end, 65536):
                pass
        except BlockingIOError:
            pass

    def interrupt(self) -> None:
        """Wake the waiter from this process (to make it stop)."""
        with contextlib.suppress(BlockingIOError):  # a full pipe wakes the waiter anyway
            os.write(self._write_end, b"\0")

    def close(self) -> None:
        """Unregister: remove the pipe (so that writers stop waking it), then close it."""
        _remove(self._path)
        self._close_ends()

    def _close_ends(self) -> None:
        for name in ("_read_end", "_write_end"):
            descriptor = getattr(self, name, -1)
            if descriptor >= 0:
                os.close(descriptor)
                setattr(self, name, -1)


class WakeSender:
    """A writer's side: wakes every registered follower except its own store's. Not thread-safe (the store
    calls it under its write lock)."""

    def __init__(self, directory: str) -> None:
        self._directory = directory
        self._own: str | None = None
        self._listed_mtime = -1
        self._listed_at = 0
        self._pipes: dict[str, int] = {}  # name -> write descriptor

    def skip(self, own: str | None) -> None:
        """Do not wake ``own`` (the store's own channel: its own appends notify it directly)."""
        self._own = own
        if own is not None:
            self._forget(own)

    def wake(self) -> None:
        """Write one byte to every follower's pipe; never blocks, never raises for a follower's sake."""
        self._refresh()
        for name, descriptor in list(self._pipes.items()):
            try:
                os.write(descriptor, b"\0")
            except BlockingIOError:
                pass  # its pipe is full of wake-ups it has not read yet: it will look anyway
            except OSError as exc:
                self._forget(name)
                if exc.errno == errno.EPIPE:
                    _remove(os.path.join(self._directory, name))  # its reader is gone: the follower died

    def close(self) -> None:
        """Close every pipe this sender opened."""
        for name in list(self._pipes):
            self._forget(name)

    def _refresh(self) -> None:
        """Open the pipes of followers registered since the last look (cheap when the directory is unchanged)."""
        try:
            mtime = os.stat(self._directory).st_mtime_ns
        except OSError:
            mtime = -1  # no follower has ever registered
        if mtime == self._listed_mtime and self._listed_at - mtime > _MTIME_GRANULARITY_NS:
            return
        listed_at = time.time_ns()
        try:
            names = {name for name in os.listdir(self._directory) if name.startswith(_PREFIX)}
        except OSError:
            names = set()
        for name in list(self._pipes):
            if name not in names:
                self._forget(name)
        for name in names - self._pipes.keys():
            if name != self._own and not name.endswith(_SUFFIX_SETTING_UP):
                self._open(name)
        self._listed_mtime = mtime
        self._listed_at = listed_at

    def _open(self, name: str) -> None:
        path = os.path.join(self._directory, name)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                _remove(path)  # a pipe nobody reads: its follower died without unregistering
            elif exc.errno != errno.ENOENT:
                logger.debug("cannot open the wake-up pipe %s", path, exc_info=exc)
            return
        try:
            is_pipe = stat.S_ISFIFO(os.fstat(descriptor).st_mode)
        except OSError:
            is_pipe = False
        if not is_pipe:
            os.close(descriptor)
            return
        self._pipes[name] = descriptor

    def _forget(self, name: str) -> None:
        descriptor = self._pipes.pop(name, None)
        if descriptor is not None:
            os.close(descriptor)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.debug("cannot remove %s", path, exc_info=exc)
