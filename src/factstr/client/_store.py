"""HTTPStore: the store contract over the HTTP API of ``factstr serve``.

It derives from :class:`~factstr.EventStore`, so every argument is validated here exactly as a local store
validates it (same errors, before any request), and the server validates again. Appends and queries are one
request each; streams are server-sent events run by factstr's own stream runtime (see ``_remote_stream``).
"""

from __future__ import annotations

import time
import urllib.parse
from datetime import datetime
from typing import Any, NoReturn

import msgspec

from .._errors import AppendOutcomeUnknown, BackendError, InvalidInput, UnknownDurableStream
from .._matching import Filters
from .._model import AppendResult, DurableStream, DurableStreamInfo, EventQuery, QueryResult, Start
from .._namespaces import DEFAULT_NAMESPACE, check_namespace_name
from .._store import Condition, EventStore, Scan, StoredCursor
from .._streams import SAFETY_POLL_SECONDS, ErrorCallback, EventStream, Handler, Hold
from .._validation import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    Idempotency,
    PreparedEvent,
    PreparedQuery,
    check_durable_name,
    check_query,
    check_sequence_number,
    check_start,
    check_unbounded,
    filters_to_query,
)
from ._remote_stream import RemoteStream, stream_params
from ._transport import Transport

DEFAULT_TIMEOUT_SECONDS = 30.0
# Pauses between the attempts of an append with an idempotency key whose outcome is unknown (C9.4).
APPEND_RETRY_PAUSES = (0.05, 0.25, 1.0)


class _Head(msgspec.Struct):
    head: int | None


class _DurableStreams(msgspec.Struct):
    durable_streams: list[DurableStreamInfo]


class _Namespace(msgspec.Struct):
    name: str


class _Namespaces(msgspec.Struct):
    namespaces: list[_Namespace]


def split_namespace_url(url: str, namespace: str | None) -> tuple[str, str]:
    """Split ``http://host:port[/prefix][/ns/NAME]`` into the server's URL and the namespace it names.

    ``namespace`` (the keyword) must agree with a namespace in the URL; neither means ``default``.
    """
    if not isinstance(url, str):
        raise InvalidInput(f"url must be a str, got {type(url).__name__}")
    base = url.rstrip("/")
    in_url = None
    head, separator, tail = base.rpartition("/ns/")
    if separator and "/" not in tail and "://" in head:
        base, in_url = head, check_namespace_name(tail)
    if namespace is not None:
        check_namespace_name(namespace)
        if in_url is not None and in_url != namespace:
            raise InvalidInput(f"namespace={namespace!r} disagrees with the namespace {in_url!r} in the URL")
    return base, namespace or in_url or DEFAULT_NAMESPACE


def namespace_url(server_url: str, namespace: str) -> str:
    """The base URL of one namespace's routes (the server's own for the default namespace)."""
    return server_url if namespace == DEFAULT_NAMESPACE else f"{server_url}/ns/{namespace}"


def _name_path(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _wire_query(filters: Filters, prepared: PreparedQuery | None = None) -> EventQuery:
    query = filters_to_query(filters)
    if prepared is None:
        return query
    return EventQuery(
        filters=query.filters,
        min_sequence_number=prepared.min_sequence_number,
        limit=prepared.limit,
        backwards=prepared.backwards,
        max_sequence_number=prepared.max_sequence_number,
    )


class HTTPStore(EventStore):
    """A store served by ``factstr serve`` at ``url`` (``http://host:port``); thread-safe.

    ``token`` is sent as a bearer token. ``namespace`` selects one of the server's namespaces (independent
    logs, docs/server.md "Namespaces"); the URL may name it too (``http://host:port/ns/NAME``). Errors are the
    stores' own (ConditionalAppendConflict, InvalidInput, DurableStreamActive, ...), and UnknownNamespace for
    a namespace that does not exist; an unreachable server raises BackendError, and a connection lost during
    an append raises AppendOutcomeUnknown, except that an append with an idempotency key is sent again (with
    the same key) first, a few times, which is safe. ``close()`` stops this client's streams, never the server.
    """

    __module__ = "factstr.client"

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        namespace: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        poll_interval: float = SAFETY_POLL_SECONDS,
    ) -> None:
        super().__init__(max_payload_bytes=max_payload_bytes, poll_interval=poll_interval)
        self._server_url, self._namespace = split_namespace_url(url, namespace)
        self._token = token
        self._timeout = timeout
        self._transport = Transport(namespace_url(self._server_url, self._namespace), token=token, timeout=timeout)
        self._admin: Transport | None = None

    def __repr__(self) -> str:
        return f"<factstr.client.HTTPStore url={self._transport.url!r}>"

    @property
    def url(self) -> str:
        """The base URL of this client's log (the server's, plus ``/ns/NAME`` for a namespace)."""
        return self._transport.url

    @property
    def namespace(self) -> str:
        """The namespace this client uses (``default``: the server's unprefixed log)."""
        return self._namespace

    # --- namespace administration (needs the admin token when the server has one) ------------------------

    def _admin_transport(self) -> Transport:
        self._check_open()
        if self._admin is None:
            self._admin = Transport(self._server_url, token=self._token, timeout=self._timeout)
        return self._admin

    def create_namespace(
        self, name: str | None = None, *, ephemeral: bool = False, idle_timeout: float | None = None
    ) -> HTTPStore:
        """Create a namespace on the server; return a new client on it (same token; close it when done).

        Without ``name`` the server makes one up. An ``ephemeral`` namespace is dropped by the server when
        unused for ``idle_timeout`` seconds (default 300) and when the server shuts down.
        """
        if name is not None:
            check_namespace_name(name)
        body: dict[str, Any] = {"ephemeral": ephemeral}
        if name is not None:
            body["name"] = name
        if idle_timeout is not None:
            body["idle_timeout_seconds"] = idle_timeout
        created = self._admin_transport().call(_Namespace, "POST", "/namespaces", body)
        return HTTPStore(
            self._server_url,
            token=self._token,
            namespace=created.name,
            timeout=self._timeout,
            max_payload_bytes=self._max_payload_bytes,
            poll_interval=self._poll_interval,
        )

    def namespaces(self) -> list[str]:
        """The names of the server's namespaces, ``default`` first."""
        listed = self._admin_transport().call(_Namespaces, "GET", "/namespaces")
        return [namespace.name for namespace in listed.namespaces]

    def drop_namespace(self, name: str, *, force: bool = False) -> None:
        """Drop a namespace and everything in it; ``force`` ends its open streams instead of refusing."""
        check_namespace_name(name)
        path = f"/namespaces/{name}" + ("?force=true" if force else "")
        self._admin_transport().request("DELETE", path)

    # --- what EventStore's append, append_if, query and head call ----------------------------------------

    def _append(
        self,
        events: list[PreparedEvent],
        condition: Condition | None,
        *,
        occurred_at: datetime | None = None,
        idempotency: Idempotency | None = None,
    ) -> AppendResult:
        if occurred_at is not None:
            raise InvalidInput("import_batch works on a store opened directly, not over HTTP")
        wire_events = [{"event_type": event.event_type, "payload": msgspec.Raw(event.payload_json)} for event in events]
        if condition is None:
            body: dict[str, Any] = {"events": wire_events}
            path = "/append"
        else:
            body = {
                "events": wire_events,
                "context_query": _wire_query(condition.filters),
                "expected_context_version": condition.expected,
            }
            path = "/append_if"
        if idempotency is None:
            result: AppendResult = self._transport.call(AppendResult, "POST", path, body, unsure_if_lost=True)
            return result
        return self._append_with_retries(path, body, idempotency.key)

    def _append_with_retries(self, path: str, body: dict[str, Any], key: str) -> AppendResult:
        """Send a keyed append; while its outcome is unknown, send it again with the same key (C9.4).

        The server commits a key once, so a retry either commits the batch or returns the result of the attempt
        that did. After the last attempt the caller gets AppendOutcomeUnknown, never a plain failure to connect:
        an earlier attempt may still have committed.
        """
        headers = {"Idempotency-Key": key}
        unknown: AppendOutcomeUnknown | None = None
        for pause in (*APPEND_RETRY_PAUSES, None):
            try:
                result: AppendResult = self._transport.call(
                    AppendResult, "POST", path, body, unsure_if_lost=True, headers=headers
                )
                return result
            except AppendOutcomeUnknown as exc:
                unknown = exc
            except BackendError as exc:
                if unknown is None:
                    raise  # nothing was sent yet (or the server refused it): the outcome is known
                unknown.__context__ = exc
            if pause is None or self._closed:
                break
            time.sleep(pause)
        assert unknown is not None
        raise unknown

    def _query(self, query: PreparedQuery) -> QueryResult:
        result: QueryResult = self._transport.call(QueryResult, "POST", "/query", _wire_query(query.filters, query))
        return result

    def _head(self) -> int:
        return self._transport.call(_Head, "GET", "/head").head or 0

    # --- streams: registered on the server, delivered by the shared runtime ------------------------------

    def stream_to(
        self,
        query: EventQuery,
        handler: Handler,
        *,
        start: Start = "end",
        on_error: ErrorCallback | None = None,
    ) -> EventStream:
        filters = check_unbounded(check_query(query), "query", "a stream")
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
        self._transport.request("POST", f"/durable_streams/{_name_path(name)}/reset", {"position": cursor})

    def delete_durable_stream(self, durable: DurableStream | str) -> None:
        name = check_durable_name(durable)
        self._check_open()
        self._transport.request("DELETE", f"/durable_streams/{_name_path(name)}")

    # --- lifecycle ---------------------------------------------------------------------------------------

    def _close_backend(self) -> None:
        self._transport.close()
        if self._admin is not None:
            self._admin.close()

    # --- store internals that live on the server, not in this client -------------------------------------

    def _unused(self) -> NoReturn:
        raise NotImplementedError("HTTPStore keeps no log or cursors of its own: the server does")

    def _scan(self, after: int, filters: Filters, limit: int) -> Scan:
        self._unused()

    def _load_cursor(self, name: str) -> StoredCursor | None:
        self._unused()

    def _save_cursor(self, name: str, filters_json: str, cursor: int) -> None:
        self._unused()

    def _advance_cursor(self, name: str, cursor: int) -> None:
        self._unused()

    def _list_cursors(self) -> list[StoredCursor]:
        self._unused()

    def _delete_cursor(self, name: str) -> None:
        self._unused()

    def _acquire_hold(self, name: str) -> Hold:
        self._unused()

    def _is_held(self, name: str) -> bool:
        self._unused()
