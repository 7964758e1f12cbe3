"""Streams as server-sent events: store streams feeding one response per connection, one message per batch.

The store's stream runtime calls :meth:`ServerStream.send` on the feed's worker thread. It encodes the batch as
its SSE message there (off the event loop) and puts it into a :class:`Channel` bounded in bytes; when the client
reads slowly the channel fills and the handler blocks, which holds back only that stream's worker (the log is
the buffer, C6). A client that takes nothing for ``stall_seconds`` while the channel is full is a stuck client:
its stream ends with reason ``slow_consumer``, the queued messages are dropped and its store streams stop (a
durable name is released); it can resume from the log like after any lost connection.

A durable SSE stream adds the durable store stream itself, whose handler only waits for the client's
acknowledgement of each batch: the stored cursor never passes a batch the client did not handle, and delivery
still runs ahead without a round trip per batch.

The response side (:class:`EventStreamResponse`) runs on the event loop: it sends ``ready`` first, then each
batch as it arrives, ``progress`` when the stream read past batches that did not match, heartbeats while idle,
and ``end`` when the stream is closed by the client (DELETE), stopped, or the server shuts down.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable

import anyio
import msgspec
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .._errors import InvalidInput
from .._model import EventRecord
from .._streams import EventStream
from ._codec import records_to_wire

logger = logging.getLogger("factstr.server")

_encode = msgspec.json.Encoder().encode
# How long closing a durable SSE stream waits for its holder to store the cursor of acknowledged batches.
HOLDER_CATCH_UP_SECONDS = 10.0
# The encoded batches one stream may hold for its client; a single larger batch still goes, alone.
DEFAULT_STREAM_BUFFER_BYTES = 1024 * 1024
# How long a full stream buffer may wait for its client to take anything before the stream ends.
DEFAULT_STALL_SECONDS = 60.0
SLOW_CONSUMER = "slow_consumer"


class ClientGone(Exception):
    """The client left (or closed the stream) before acknowledging a durable batch: it stays unhandled."""


class _ClientGoneIsNoFailure(logging.Filter):
    """Drops the stream runtime's warning about a holder stopped by :class:`ClientGone`.

    The holder's handler must raise to stop the durable stream at the unacknowledged batch (returning would
    move the cursor past it), and the runtime reports every raising handler as a failure. Here it is the
    expected end of an unsubscribe or a disconnect, which the server logs itself (``stream ... ended``).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ClientGone))


logging.getLogger("factstr").addFilter(_ClientGoneIsNoFailure())


class Stalled(Exception):
    """The channel stayed full for ``stall_seconds``: its client takes nothing."""


class Channel:
    """A hand-off of encoded batches from one store worker thread to one event-loop reader, bounded in bytes.

    Thread side: :meth:`put` (blocks while full), :meth:`wait_ack`. Loop side: :meth:`take`, :meth:`wait`,
    :meth:`ack`. :meth:`close` (any side) wakes everyone; a closed channel accepts nothing more.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        capacity_bytes: int,
        stall_seconds: float = DEFAULT_STALL_SECONDS,
    ) -> None:
        self._loop = loop
        self._capacity = capacity_bytes
        self._stall_seconds = stall_seconds
        self._items: collections.deque[tuple[bytes, int]] = collections.deque()
        self._bytes = 0
        self._condition = threading.Condition()
        self._attention = asyncio.Event()
        self._acked = 0
        self._taken = 0
        self._taken_count = 0
        self._delivered = 0
        self.closed = False

    def put(self, message: bytes, last: int) -> bool:
        """Queue one batch's message (``last``: its last number), waiting while the channel is full.

        Returns False if the channel was closed instead; raises :class:`Stalled` when the channel stayed full
        for ``stall_seconds`` without the reader taking anything. A message larger than the whole capacity
        waits until the channel is empty and then goes alone, so the channel never holds more than the
        capacity or one message.
        """
        with self._condition:
            taken = self._taken_count
            deadline = time.monotonic() + self._stall_seconds
            while self._items and self._bytes + len(message) > self._capacity and not self.closed:
                if self._taken_count != taken:
                    taken, deadline = self._taken_count, time.monotonic() + self._stall_seconds
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Stalled(f"the client took nothing for {self._stall_seconds:g} seconds")
                self._condition.wait(remaining)
            if self.closed:
                return False
            self._items.append((message, last))
            self._bytes += len(message)
        self.wake()
        return True

    @property
    def queued_bytes(self) -> int:
        """The bytes of the messages waiting for the reader."""
        return self._bytes

    def wait_ack(self, sequence_number: int) -> bool:
        """Wait until the client acknowledged ``sequence_number``; False if the channel closed first."""
        with self._condition:
            while self._acked < sequence_number and not self.closed:
                self._condition.wait()
            return self._acked >= sequence_number

    @property
    def acked(self) -> int:
        """The highest sequence number the client acknowledged (0: none)."""
        return self._acked

    @property
    def taken(self) -> int:
        """The last sequence number of the newest batch handed to the response (0: none)."""
        return self._taken

    def delivered(self, position: int) -> None:
        """Record that the client is told about everything up to ``position`` (its ready, a batch, a progress).

        Called before the message goes out, so an acknowledgement can never arrive before its message counts.
        """
        with self._condition:
            self._delivered = max(self._delivered, position)

    def ack(self, sequence_number: int) -> None:
        """Record that the client handled everything up to ``sequence_number``.

        Only what this stream delivered can be acknowledged: anything above it would move the stored cursor
        past batches the client never saw, so it is refused and changes nothing. Acknowledging less than
        before changes nothing either (the cursor never moves back).
        """
        with self._condition:
            if sequence_number > self._delivered:
                raise InvalidInput(
                    f"cannot acknowledge {sequence_number}: this stream delivered up to {self._delivered}"
                )
            self._acked = max(self._acked, sequence_number)
            self._condition.notify_all()

    def take(self) -> tuple[bytes, int] | None:
        """Return the oldest queued message and its batch's last number without waiting, or None."""
        with self._condition:
            if not self._items:
                self._attention.clear()
                return None
            message, last = self._items.popleft()
            self._bytes -= len(message)
            self._taken = last
            self._taken_count += 1
            self._delivered = max(self._delivered, last)
            self._condition.notify_all()
            return message, last

    async def wait(self, timeout: float) -> None:
        """Wait until something may have changed (a batch, a close, a wake-up) or ``timeout`` passes."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._attention.wait(), timeout)

    def wake(self) -> None:
        """Wake the loop-side reader; safe from any thread, also after the loop closed."""
        # RuntimeError: the event loop is gone, so nobody is reading any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._attention.set)

    def close(self, *, discard: bool = False) -> None:
        """Refuse further batches and release every waiter; ``discard`` also drops the queued ones."""
        with self._condition:
            self.closed = True
            if discard:
                self._items.clear()
                self._bytes = 0
            self._condition.notify_all()
        self.wake()


class ServerStream:
    """One open SSE stream: its channel, its store streams, and why it ends.

    ``feed`` is a live store stream whose handler hands each batch to the channel. A durable SSE stream also
    has ``holder``: the durable store stream itself, with the same query and start, which holds the name and
    keeps the cursor. Its handler sends nothing; it only waits until the client acknowledged the batch, so
    the stored cursor follows the acknowledgements exactly, while the feed may run a few batches ahead (the
    channel's capacity) and the client never waits a round trip between batches.
    """

    def __init__(
        self,
        *,
        kind: str,
        client: str,
        channel: Channel,
        durable_name: str | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.kind = kind
        self.client = client
        self.channel = channel
        self.durable_name = durable_name
        self.feed: EventStream | None = None
        self.holder: EventStream | None = None
        self.start_position = 0
        self.end_reason: str | None = None

    def send(self, batch: list[EventRecord]) -> None:
        """The feed's handler (its worker thread): hand the batch to the response, waiting while it is full.

        A client that takes nothing for the stall time ends the stream (``slow_consumer``): what was queued
        for it is dropped, and the stream's store streams stop without waiting for this handler call.
        """
        last = batch[-1].sequence_number
        message = sse_message(records_to_wire(batch), event_id=last)
        try:
            self.channel.put(message, last)  # False when the client is gone: nothing more is owed to it
        except Stalled:
            logger.warning(
                "stream %s ended: its client took nothing for a while (%d bytes waiting)",
                self.id,
                self.channel.queued_bytes,
                extra={"stream_id": self.id, "reason": SLOW_CONSUMER, "client": self.client},
            )
            self.request_end(SLOW_CONSUMER, discard=True)
            self._stop_without_waiting()

    def await_acknowledgement(self, batch: list[EventRecord]) -> None:
        """The holder's handler: return once the client acknowledged the batch, so the cursor may pass it."""
        if not self.channel.wait_ack(batch[-1].sequence_number):
            raise ClientGone("the stream was closed before the client acknowledged this batch; it stays unhandled")

    @property
    def running(self) -> bool:
        """Whether every store stream of this SSE stream still delivers."""
        return all(s.running for s in (self.feed, self.holder) if s is not None)

    def request_end(self, reason: str, *, discard: bool = False) -> None:
        """Ask the response to send ``end`` and finish; the first reason wins. ``discard``: drop what is queued."""
        if self.end_reason is None:
            self.end_reason = reason
        self.channel.close(discard=discard)

    def _stop_without_waiting(self) -> None:
        # Called from the feed's own handler, so its unsubscribe does not wait for itself; the holder stops at
        # its first unacknowledged batch (the closed channel released its handler). The response may stay
        # blocked on the stuck client's socket: this is what releases the durable name and both workers.
        if self.feed is not None:
            self.feed.unsubscribe()
        if self.holder is not None:
            self.holder.unsubscribe()

    async def stop_store_stream(self) -> None:
        """Unsubscribe the store streams (off the event loop: that waits for a handler call in progress).

        Call after :meth:`request_end`: the closed channel releases a handler waiting on it, and the holder
        then stops at the first unacknowledged batch.
        """
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._stop_store_streams)

    def _stop_store_streams(self) -> None:
        if self.feed is not None:
            self.feed.unsubscribe()
        if self.holder is None:
            return
        # The feed runs ahead of the holder: acknowledged batches the holder has not reached yet must still
        # pass through it, or their cursor would be lost. Its handler returns at once for those (and raises
        # at the first unacknowledged one, since the channel is closed). Acknowledgements beyond what was
        # handed to the response are not about any batch and are ignored. (Not the feed's position: the
        # feed advances only after its handler returned, which may be after the client already acked.)
        target = min(self.channel.acked, self.channel.taken)
        if target:
            with contextlib.suppress(Exception):  # a stopped holder raises its failure here: nothing to wait for
                self.holder.wait_until(target, timeout=HOLDER_CATCH_UP_SECONDS)
        self.holder.unsubscribe()


class StreamHub:
    """Every open stream of one app, so that DELETE, acks and shutdown can reach them."""

    def __init__(self) -> None:
        self._streams: dict[str, ServerStream] = {}
        self.shutting_down = False

    def add(self, stream: ServerStream) -> None:
        self._streams[stream.id] = stream

    def get(self, stream_id: str) -> ServerStream | None:
        return self._streams.get(stream_id)

    def discard(self, stream: ServerStream) -> None:
        self._streams.pop(stream.id, None)

    def count(self, kind: str) -> int:
        return sum(1 for stream in self._streams.values() if stream.kind == kind)

    async def end(self, stream: ServerStream, reason: str) -> None:
        """End one stream and return once its store stream stopped (a durable name is released then)."""
        stream.request_end(reason)
        await stream.stop_store_stream()

    async def shutdown(self) -> None:
        """End every stream (graceful shutdown): each client gets ``end`` with reason ``shutdown``."""
        self.shutting_down = True
        await self.end_all("shutdown")

    async def end_all(self, reason: str) -> None:
        """End every open stream with ``reason`` and return once their store streams stopped."""
        streams = list(self._streams.values())
        for stream in streams:
            stream.request_end(reason)
        for stream in streams:
            await stream.stop_store_stream()


def sse_message(data: object, *, event: str | None = None, event_id: int | None = None) -> bytes:
    """Format one SSE message (JSON data on one line)."""
    head = b""
    if event is not None:
        head += b"event: " + event.encode() + b"\n"
    if event_id is not None:
        head += b"id: " + str(event_id).encode() + b"\n"
    return head + b"data: " + _encode(data) + b"\n\n"


class EventStreamResponse(Response):
    """The ``text/event-stream`` response of one :class:`ServerStream`."""

    media_type = "text/event-stream"

    def __init__(
        self,
        stream: ServerStream,
        *,
        heartbeat_seconds: float,
        progress_seconds: float,
        on_close: Callable[[ServerStream], Awaitable[None]],
        on_batch: Callable[[], None],
    ) -> None:
        # Not Response.__init__: it would declare a Content-Length, and an event stream has none.
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),
        ]
        self._stream = stream
        self._heartbeat = heartbeat_seconds
        self._progress = progress_seconds
        self._on_close = on_close
        self._on_batch = on_batch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = self._stream
        watcher = asyncio.create_task(self._watch_disconnect(receive))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await self._pump(send)
        except OSError:
            pass  # the client went away while we were writing
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            stream.request_end("disconnected")
            await stream.stop_store_stream()
            await self._on_close(stream)

    async def _watch_disconnect(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self._stream.request_end("disconnected")
                return

    async def _pump(self, send: Send) -> None:
        stream = self._stream
        assert stream.feed is not None
        feed = stream.feed

        async def emit(chunk: bytes) -> None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        stream.channel.delivered(stream.start_position)
        await emit(
            sse_message(
                {
                    "stream_id": stream.id,
                    "kind": stream.kind,
                    "durable_name": stream.durable_name,
                    "position": stream.start_position,
                    "heartbeat_seconds": self._heartbeat,
                },
                event="ready",
            )
        )
        sent = stream.start_position
        last_write = time.monotonic()
        while True:
            # Read the position BEFORE draining: every batch up to it is in the channel or already sent,
            # so announcing it after the drain can never overtake a batch.
            position = feed.position or 0
            taken = stream.channel.take()
            if taken is not None:
                message, last = taken
                await emit(message)
                self._on_batch()
                sent = max(sent, last)
                last_write = time.monotonic()
                continue
            if stream.end_reason is not None:
                break
            if not stream.running:
                stream.end_reason = "stopped"
                break
            if position > sent:
                stream.channel.delivered(position)
                await emit(sse_message({"position": position}, event="progress", event_id=position))
                sent = position
                last_write = time.monotonic()
            elif time.monotonic() - last_write >= self._heartbeat:
                await emit(b": heartbeat\n\n")
                last_write = time.monotonic()
            await stream.channel.wait(min(self._progress, self._heartbeat))
        if stream.end_reason != "disconnected":
            await emit(sse_message({"reason": stream.end_reason}, event="end"))
            await send({"type": "http.response.body", "body": b"", "more_body": False})
