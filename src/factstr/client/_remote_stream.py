"""A server stream (SSE) as a source for factstr's own stream runtime.

The client does not re-implement delivery: each remote stream is run by the same :class:`~factstr.EventStream`
as a local one, with this class as its :class:`~factstr._streams.StreamSource` and its hold. A reader thread
parses the event stream into a small bounded queue (when the handler is slow the queue fills, the reader stops
reading, and TCP carries the backpressure to the server, which holds back only that stream's worker there).

``store_cursor`` acknowledges handled batches (a durable stream's server waits for that before it moves the
stored cursor); ``release`` closes the stream and returns once the server released the name. A durable stream's
acknowledgements and closing name the durable stream and carry its newest token (the id of the newest message),
so any server behind a load balancer takes them, not only the one holding the stream (docs/server.md).
If the connection breaks, the reader reconnects: a live stream resumes after the last number it received
(``Last-Event-ID``), a durable stream registers again and resumes after its stored cursor; batches already
received are not delivered twice.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import logging
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from .. import _wire as wire
from .._errors import BackendError, DurableStreamActive, EventStoreError, StoreClosed, StreamEnded
from .._matching import Filters
from .._model import EventRecord
from .._notify import Notifier
from .._streams import EventStream, Handler
from ._transport import Transport, error_from_response

if TYPE_CHECKING:
    from ._store import HTTPStore

logger = logging.getLogger("factstr.client")

_decode_batch = msgspec.json.Decoder(list[EventRecord]).decode
_QUEUE_BATCHES = 16
_RECONNECT_FIRST_SECONDS = 0.1
_RECONNECT_MAX_SECONDS = 5.0


class _EndingNotifier(Notifier):
    """The remote stream's notifier; once the server refused to go on, asking it raises that refusal.

    The stream runtime retries an EventStoreError raised while reading (the log may come back), and
    StreamEnded is one, but a refusal is final: the runtime asks the notifier first on every turn, so raising
    from there stops the stream with StreamEnded as its failure (on_error called), like any stopping error.
    """

    def __init__(self) -> None:
        super().__init__()
        self.ended: StreamEnded | None = None

    def version(self) -> int:
        if self.ended is not None:
            raise self.ended
        return super().version()


class RemoteStream:
    """One server-sent event stream, adapted to the stream runtime (source and hold at once)."""

    def __init__(self, store: HTTPStore, transport: Transport, path: str, params: dict[str, str]) -> None:
        self._ending = _EndingNotifier()
        self.notifier: Notifier = self._ending
        self._store = store
        self._transport = transport
        self._path = path
        self._params = params
        self._durable = path.startswith("/streams/durable/")
        self._condition = threading.Condition()
        self._queue: collections.deque[list[EventRecord]] = collections.deque()
        self._received = 0  # the highest number received (batch or progress): where a live stream resumes
        self._progress = 0
        self._handled = 0  # a durable stream: the last batch its handler returned from
        self._stream_id: str | None = None
        self._token: str | None = None  # a durable stream's newest acknowledgement token (its newest message id)
        self._delivered = 0  # the highest number the current server stream sent: the most it lets us acknowledge
        self._acked: dict[str, int] = {}  # per server stream id: a reconnect starts a new one
        self._response: http.client.HTTPResponse | None = None
        self._connection: http.client.HTTPConnection | None = None
        self._closing = False
        self._reader: threading.Thread | None = None

    # --- opening ------------------------------------------------------------------------------------------

    def open(self) -> int:
        """Register the stream on the server and return where it starts; raises what the server refused."""
        start = self._connect(resume_after=None)
        self._received = self._progress = start
        self._reader = threading.Thread(target=self._read_loop, name="factstr-sse-reader", daemon=True)
        self._reader.start()
        return start

    def _connect(self, resume_after: int | None) -> int:
        """Open the event stream and read its ``ready`` message; return the position it reports."""
        params = dict(self._params)
        headers = dict(self._transport.headers, Accept="text/event-stream")
        if resume_after is not None and not self._durable:
            headers["Last-Event-ID"] = str(resume_after)
        target = self._transport.path(self._path)
        if params:
            target += "?" + urllib.parse.urlencode(params)
        connection = self._transport.new_connection()
        try:
            connection.request("GET", target, headers=headers)
            response = connection.getresponse()
            if response.status != 200:
                raise error_from_response(response.status, response.read())
            ready = None
            for event, data, _id in _events(response):
                if event == "ready":
                    ready = msgspec.json.decode(data, type=wire.StreamReady)
                    break
            if ready is None:
                raise BackendError("the server closed the stream before it was ready")
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise BackendError(f"cannot open a stream on {self._transport.url}: {exc}") from exc
        except BaseException:
            connection.close()
            raise
        if connection.sock is not None:
            # Heartbeats arrive every heartbeat_seconds; three missed ones mean the server is gone.
            connection.sock.settimeout(max(3 * ready.heartbeat_seconds, 1.0))
        with self._condition:
            self._connection, self._response, self._stream_id = connection, response, ready.stream_id
            self._delivered, self._token = ready.position, ready.stream_token
            closing = self._closing
        if closing:
            # release() ran while this reconnected: it could not shut this connection down, so do it here.
            self._force_close()
        return ready.position

    # --- the reader thread --------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        delay = _RECONNECT_FIRST_SECONDS
        while True:
            response = self._response
            reason = "connection lost"
            try:
                assert response is not None
                for event, data, event_id in _events(response):
                    if event == "message":
                        self._push(_decode_batch(data), event_id)
                        delay = _RECONNECT_FIRST_SECONDS
                    elif event == "progress":
                        self._advance(msgspec.json.decode(data, type=wire.Progress).position, event_id)
                    elif event == "end":
                        reason = f"the server ended the stream ({data.decode(errors='replace')})"
                        break
            except (OSError, http.client.HTTPException, msgspec.MsgspecError, ValueError) as exc:
                reason = f"connection lost: {exc}"
            self._close_connection()
            if not self._reconnect(reason, delay):
                return
            delay = min(delay * 2, _RECONNECT_MAX_SECONDS)

    def _reconnect(self, reason: str, delay: float) -> bool:
        """Open the stream again after ``delay``, retrying; False when the stream is closing or refused."""
        while True:
            with self._condition:
                if self._closing:
                    return False
                self._condition.wait(delay)
                if self._closing:
                    return False
                resume_after = self._received
            logger.warning("stream on %s: %s; reconnecting", self._transport.url, reason)
            try:
                self._connect(resume_after)
                return True
            except (BackendError, DurableStreamActive) as exc:
                reason = f"reconnect failed: {exc}"  # the server may be restarting, or still holds the name
                delay = min(delay * 2, _RECONNECT_MAX_SECONDS)
            except EventStoreError as exc:
                self._ending.ended = StreamEnded(f"the server refused to resume the stream: {exc}")
                self.notifier.notify()
                return False

    def _delivered_up_to(self, position: int, event_id: str | None) -> None:
        """Record what the server delivered (under the condition); a durable message's id is its token."""
        if position >= self._delivered:
            self._delivered = position
            if self._durable and event_id is not None:
                self._token = event_id

    def _push(self, batch: list[EventRecord], event_id: str | None = None) -> None:
        last = batch[-1].sequence_number
        with self._condition:
            self._delivered_up_to(last, event_id)
            duplicate = last <= self._received
            handled = last <= self._handled
        if duplicate:
            # A durable stream registered again replays what was received before the break. If it was handled
            # too, its acknowledgement may have been lost with the old connection: send it again, or the
            # server's cursor would wait for it.
            if handled:
                try:
                    self.store_cursor("", last)
                except EventStoreError as exc:
                    logger.info("acknowledgement failed, retried by the next cursor flush: %s", exc)
            return
        with self._condition:
            while len(self._queue) >= _QUEUE_BATCHES and not self._closing:
                self._condition.wait()
            if self._closing:
                return
            self._queue.append(batch)
            self._received = max(self._received, batch[-1].sequence_number)
        self.notifier.notify()

    def _advance(self, position: int, event_id: str | None = None) -> None:
        with self._condition:
            self._delivered_up_to(position, event_id)
            self._progress = max(self._progress, position)
            self._received = max(self._received, position)
        self.notifier.notify()

    def _close_connection(self) -> None:
        with self._condition:
            connection, self._connection, self._response = self._connection, None, None
        if connection is not None:
            connection.close()

    # --- StreamSource -------------------------------------------------------------------------------------

    def read_batches(self, after: int, filters: Filters) -> tuple[list[list[EventRecord]], int]:
        """Return the batches received so far (the server already filtered them) and how far it read."""
        with self._condition:
            if self._closing and not self._queue:
                raise StoreClosed()
            batches = list(self._queue)
            self._queue.clear()
            self._condition.notify_all()
            horizon = max(after, self._progress)
        if batches:
            horizon = max(horizon, batches[-1][-1].sequence_number)
        return batches, horizon

    def store_cursor(self, name: str, cursor: int) -> None:
        """Acknowledge every batch up to ``cursor``: the server then stores it as the durable cursor.

        A server stream accepts acknowledgements only up to what it sent. After a reconnect the new stream
        starts at the stored cursor and sends again what was handled but not stored; until it has, this
        acknowledges what it sent so far (each resent batch is acknowledged as it arrives).
        """
        with self._condition:
            stream_id, token = self._stream_id, self._token
            cursor = min(cursor, self._delivered)
            if stream_id is None or token is None or cursor <= self._acked.get(stream_id, 0):
                return
        self._transport.request("POST", self._path + "/ack", wire.AckRequest(cursor, token))
        with self._condition:
            self._acked[stream_id] = max(cursor, self._acked.get(stream_id, 0))

    def handled(self, handler: Handler) -> Handler:
        """Wrap a durable handler so that each batch is acknowledged as soon as the handler returned.

        The runtime would acknowledge it too (as its cursor flush), but only once it looks for more work;
        acknowledging at once lets the server send the next batch a loop earlier. A failed acknowledgement
        is logged and left to that flush.
        """

        def handle_and_acknowledge(batch: list[EventRecord]) -> object:
            result = handler(batch)
            with self._condition:
                self._handled = max(self._handled, batch[-1].sequence_number)
            try:
                self.store_cursor("", batch[-1].sequence_number)
            except EventStoreError as exc:
                logger.info("acknowledgement failed, retried by the next cursor flush: %s", exc)
            return result

        return handle_and_acknowledge

    def stream_ended(self, stream: EventStream) -> None:
        """Forget the stopped stream in the store."""
        self._store.stream_ended(stream)

    # --- Hold ---------------------------------------------------------------------------------------------

    def release(self) -> None:
        """Close the stream: its connection, then (durable) wait on any server until the name was released."""
        with self._condition:
            if self._closing:
                return
            self._closing = True
            self._condition.notify_all()
            token, stream_id = self._token, self._stream_id
        # Closing the connection ends the stream on whichever server serves it (behind a load balancer,
        # maybe not the one the next request reaches).
        self._force_close()
        reader = self._reader
        if reader is not None and reader is not threading.current_thread():
            reader.join()
        self._close_connection()
        # Then wait until the server stopped it. A durable stream: any server answers once the name was
        # released (acknowledged batches are stored by then). A live stream: its own server answers once it
        # stopped; a 404 (another server, or the stream already ended) is as good.
        if self._durable and token is not None:
            target = self._path + "?" + urllib.parse.urlencode({"stream_token": token})
        elif stream_id is not None:
            target = f"/streams/{stream_id}"
        else:
            return
        try:
            self._transport.request("DELETE", target)
        except EventStoreError as exc:
            logger.info("could not confirm the close of %s on the server: %s", self._path, exc)

    def _force_close(self) -> None:
        with self._condition:
            connection = self._connection
        if connection is not None and connection.sock is not None:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)


def _events(response: http.client.HTTPResponse) -> Iterator[tuple[str, bytes, str | None]]:
    """Parse server-sent events: yield (event name, data, id) per message; comments are skipped."""
    event = "message"
    data: list[bytes] = []
    event_id: str | None = None
    while True:
        line = response.readline()
        if not line:
            return
        line = line.rstrip(b"\r\n")
        if not line:
            if data:
                yield event, b"\n".join(data), event_id
            event, data, event_id = "message", [], None
            continue
        if line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        value = value[1:] if value.startswith(b" ") else value
        if field == b"event":
            event = value.decode()
        elif field == b"data":
            data.append(value)
        elif field == b"id":
            event_id = value.decode()


def stream_params(query: Any, **extra: Any) -> dict[str, str]:
    """The query-string parameters of a stream request."""
    params = {"query": wire.encode(query).decode()}
    for key, value in extra.items():
        if value is not None:
            params[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return params
