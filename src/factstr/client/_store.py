"""HTTPStore: the store contract over the HTTP API of ``factstr serve``.

It implements the contract (:class:`~factstr.EventStore`) directly: its writing and reading methods validate every
argument exactly as a local store does (same errors, before any request), and the server validates again. It
has no log, cursors or holds of its own, so none of the local stores' backend methods. Appends and queries are one
request each; streams are server-sent events run by factstr's own stream runtime (see ``_remote_stream``).
"""

from __future__ import annotations

import urllib.parse
from datetime import datetime

import msgspec

from .. import _wire as wire
from .._errors import InvalidInput, UnknownDurableStream
from .._matching import Filters
from .._model import AppendResult, DurableStream, DurableStreamInfo, EventQuery, QueryResult, Start
from .._store import Condition, EventStore
from .._streams import SAFETY_POLL_SECONDS, ErrorCallback, EventStream, Handler
from .._validation import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    PreparedEvent,
    PreparedQuery,
    check_durable_name,
    check_query,
    check_sequence_number,
    check_start,
    filters_to_query,
)
from ._remote_stream import RemoteStream, stream_params
from ._transport import Transport

DEFAULT_TIMEOUT_SECONDS = 30.0


class _DurableStreams(msgspec.Struct):
    """``factstr._wire.DurableStreamList`` read straight into factstr's own values (the same JSON)."""

    durable_streams: list[DurableStreamInfo]


def _name_path(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _wire_query(filters: Filters, prepared: PreparedQuery | None = None) -> wire.EventQuery:
    query = filters_to_query(filters)
    if prepared is not None:
        query = EventQuery(
            filters=query.filters,
            min_sequence_number=prepared.min_sequence_number,
            limit=prepared.limit,
            backwards=prepared.backwards,
        )
    return wire.query_to_wire(query)


class HTTPStore(EventStore):
    """A store served by ``factstr serve`` at ``url`` (``http://host:port``); thread-safe.

    ``token`` is sent as a bearer token. Errors are the stores' own (ConditionalAppendConflict, InvalidInput,
    DurableStreamActive, ...); an unreachable server raises BackendError, and a connection lost during an
    append raises AppendOutcomeUnknown. ``close()`` stops this client's streams, never the server.
    """

    __module__ = "factstr.client"

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        poll_interval: float = SAFETY_POLL_SECONDS,
    ) -> None:
        super().__init__(max_payload_bytes=max_payload_bytes, poll_interval=poll_interval)
        self._transport = Transport(url, token=token, timeout=timeout)

    def __repr__(self) -> str:
        return f"<factstr.client.HTTPStore url={self._transport.url!r}>"

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self._transport.url

    # --- what EventStore's append, append_if, query and head call ----------------------------------------

    def _append(
        self, events: list[PreparedEvent], condition: Condition | None, *, occurred_at: datetime | None = None
    ) -> AppendResult:
        if occurred_at is not None:
            raise InvalidInput("import_batch works on a store opened directly, not over HTTP")
        # The payloads go out as the JSON text validation already made of them: no second encoding.
        wire_events = [wire.NewEvent(event.event_type, msgspec.Raw(event.payload_json)) for event in events]
        body: wire.AppendRequest | wire.AppendIfRequest
        if condition is None:
            body, path = wire.AppendRequest(wire_events), "/append"
        else:
            body = wire.AppendIfRequest(wire_events, _wire_query(condition.filters), condition.expected)
            path = "/append_if"
        result: AppendResult = self._transport.call(AppendResult, "POST", path, body, unsure_if_lost=True)
        return result

    def _query(self, query: PreparedQuery) -> QueryResult:
        # Answers are read straight into factstr's own values: the same JSON as the wire Structs, one copy less.
        result: QueryResult = self._transport.call(QueryResult, "POST", "/query", _wire_query(query.filters, query))
        return result

    def _head(self) -> int:
        return self._transport.call(wire.Head, "GET", "/head").head or 0

    # --- streams: registered on the server, delivered by the shared runtime ------------------------------

    def stream_to(
        self,
        query: EventQuery,
        handler: Handler,
        *,
        start: Start = "end",
        on_error: ErrorCallback | None = None,
    ) -> EventStream:
        filters = check_query(query).filters
        where = check_start(start)
        self._check_open()
        remote = RemoteStream(self, self._transport, "/streams/live", stream_params(_wire_query(filters), start=where))
        return self._open_remote(remote, filters, handler, None, on_error)

    def stream_to_durable(
        self,
        durable: DurableStream | str,
        query: EventQuery,
        handler: Handler,
        *,
        start: Start = "beginning",
        reset: bool = False,
        on_error: ErrorCallback | None = None,
    ) -> EventStream:
        name, filters, where = self._durable_arguments(durable, query, start, reset)
        remote = RemoteStream(
            self,
            self._transport,
            f"/streams/durable/{_name_path(name)}",
            stream_params(_wire_query(filters), start=where, reset=reset),
        )
        return self._open_remote(remote, filters, handler, name, on_error)

    def _open_remote(
        self,
        remote: RemoteStream,
        filters: Filters,
        handler: Handler,
        durable_name: str | None,
        on_error: ErrorCallback | None,
    ) -> EventStream:
        position = remote.open()
        return self._start_stream(
            remote,
            filters,
            handler if durable_name is None else remote.handled(handler),
            position=position,
            durable_name=durable_name,
            hold=remote,
            on_error=on_error,
        )

    # --- durable cursor admin ----------------------------------------------------------------------------

    def durable_streams(self) -> list[DurableStreamInfo]:
        self._check_open()
        return self._transport.call(_DurableStreams, "GET", "/durable_streams").durable_streams

    def durable_stream(self, durable: DurableStream | str) -> DurableStreamInfo | None:
        name = check_durable_name(durable)
        self._check_open()
        try:
            info: DurableStreamInfo = self._transport.call(
                DurableStreamInfo, "GET", f"/durable_streams/{_name_path(name)}"
            )
        except UnknownDurableStream:
            return None
        return info

    def reset_durable_stream(self, durable: DurableStream | str, position: int) -> None:
        name = check_durable_name(durable)
        if position is None:
            raise InvalidInput("position must be a non-negative int (0: before the first event)")
        cursor = check_sequence_number(position, "position")
        self._check_open()
        self._transport.request("POST", f"/durable_streams/{_name_path(name)}/reset", wire.ResetRequest(cursor))

    def delete_durable_stream(self, durable: DurableStream | str) -> None:
        name = check_durable_name(durable)
        self._check_open()
        self._transport.request("DELETE", f"/durable_streams/{_name_path(name)}")

    # --- lifecycle ---------------------------------------------------------------------------------------

    def _close_backend(self) -> None:
        self._transport.close()
