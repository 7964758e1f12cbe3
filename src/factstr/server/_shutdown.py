"""Ending event streams when the host shuts down, whatever the host (``factstr serve``, plain uvicorn, mounted).

An ASGI host stops in this order: stop accepting, wait for the responses in flight, then send the lifespan
shutdown. An event stream never finishes by itself, so the host would wait for it forever (or until its own
timeout cuts it off without the ``end`` message), and the lifespan event comes too late to help; a mounted
app does not even get one. So the app hooks the shutdown signal itself: when a stream opens, it wraps the
host's own SIGTERM/SIGINT handler (the one that starts the host's shutdown) with one that first ends every
stream, so each client gets ``end`` and durable names are released, and then calls the host's handler.

Only a Python-level handler the host installed is wrapped (uvicorn installs one while it serves); with none,
the signal keeps its default behaviour. Signals exist in the main thread only; a server on another thread
(``ServerThread``) ends its streams from :class:`~factstr.server.Server` instead.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _Hook:
    """One wrapped handler: runs ``on_signal`` on the loop, then the handler it replaced."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_signal: Callable[[], object], previous: Any) -> None:
        self.loop = loop
        self.on_signal = on_signal
        self.previous = previous

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.on_signal)
        self.previous(signum, frame)


def hook_shutdown_signals(loop: asyncio.AbstractEventLoop, on_signal: Callable[[], object]) -> bool:
    """Make the host's shutdown signals call ``on_signal`` on ``loop`` first; False when there is no hook.

    Idempotent: a handler that already calls ``on_signal`` is left alone (the host may install its handlers
    again, e.g. for a second run, and then they are wrapped anew).
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    hooked = False
    for signum in HANDLED_SIGNALS:
        current = signal.getsignal(signum)
        if _already_hooked(current, on_signal):
            hooked = True
        elif callable(current):  # not SIG_DFL, SIG_IGN or None: there is a host shutdown to run after ours
            signal.signal(signum, _Hook(loop, on_signal, current))
            hooked = True
    return hooked


def _already_hooked(handler: Any, on_signal: Callable[[], object]) -> bool:
    # Several apps in one process (mounted side by side) chain their hooks in front of the host's handler.
    while isinstance(handler, _Hook):
        if handler.on_signal == on_signal:
            return True
        handler = handler.previous
    return False
