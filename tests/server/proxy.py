"""A round-robin TCP proxy for the scale-out tests: each new connection goes to the next server in turn.

What a plain layer-4 load balancer does, and nothing more: no stickiness, no knowledge of HTTP. ``cut()``
drops every open connection at once, as a balancer that restarts (or a server behind it that dies) would.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Sequence
from types import TracebackType


class RoundRobinProxy:
    """Listens on a free loopback port and forwards each connection to the next of ``targets`` (host, port)."""

    def __init__(self) -> None:
        self.targets: list[tuple[str, int]] = []
        self.connections_by_target: dict[tuple[str, int], int] = {}
        self._turn = itertools.count()
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="round-robin-proxy", daemon=True)
        self._thread.start()
        starting = asyncio.start_server(self._accept, "127.0.0.1", 0)
        self._server: asyncio.Server = asyncio.run_coroutine_threadsafe(starting, self._loop).result()
        self.port: int = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def route_to(self, targets: Sequence[tuple[str, int]]) -> None:
        """Balance the connections opened from now on over ``targets``."""
        self.targets = list(targets)

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        target = self.targets[next(self._turn) % len(self.targets)]
        self.connections_by_target[target] = self.connections_by_target.get(target, 0) + 1
        try:
            server_reader, server_writer = await asyncio.open_connection(*target)
        except OSError:
            client_writer.close()
            return
        self._writers |= {client_writer, server_writer}
        try:
            await asyncio.gather(self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer))
        finally:
            self._writers -= {client_writer, server_writer}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            # One side finished or failed: the whole connection is over, as with a real balancer.
            writer.close()

    def cut(self) -> None:
        """Drop every open connection (both sides), like a balancer restarting."""

        async def drop() -> None:
            for writer in list(self._writers):
                writer.transport.abort()

        asyncio.run_coroutine_threadsafe(drop(), self._loop).result()

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await asyncio.sleep(0)

        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> RoundRobinProxy:
        return self

    def __exit__(self, *exc_info: object | TracebackType) -> None:
        self.close()
