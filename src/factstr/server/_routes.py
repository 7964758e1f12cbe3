"""The routes: each translates one HTTP request into one call of the store contract, and the result back.

No route knows any rule of the contract: bodies are decoded into factstr values and the store validates them.
Store calls block (a database round trip, a hold, a join), so they run in the thread pool.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import anyio.to_thread
import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .._errors import BackendError, ConditionalAppendConflict, EventStoreError, InvalidInput
from .._model import EventQuery
from .._validation import sequence_number_from_text
from ._codec import (
    AckIn,
    AppendIfIn,
    AppendIn,
    QueryIn,
    ResetIn,
    decode,
    encode,
    to_event_query,
    to_new_events,
    to_wire,
)
from ._openapi import openapi_document
from ._problems import Problem, from_decode_error, from_store_error, problem_response
from ._security import read_body
from ._sse import Channel, EventStreamResponse, ServerStream

if TYPE_CHECKING:
    from ._app import ServerState

logger = logging.getLogger("factstr.server")
T = TypeVar("T")

Endpoint = Callable[[Request], Awaitable[Response]]

# /healthz answers within this many seconds, whatever the database does.
HEALTH_TIMEOUT_SECONDS = 1.0


def _state(request: Request) -> ServerState:
    # The namespace gate puts the state of the request's namespace into the scope.
    state: ServerState = request.scope.get("factstr.state") or request.app.state.factstr
    return state


def _json(value: object, status: int = 200) -> Response:
    return Response(encode(value), status, media_type="application/json")


class _NoAnswer(Response):
    """What a route returns when its client went away mid-request: there is nobody to answer."""

    def __init__(self) -> None:
        super().__init__(status_code=499)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return


def endpoint(func: Endpoint) -> Endpoint:
    """Turn every failure of a route into a coded JSON error; an unexpected one is logged, never shown.

    A client that leaves before its request arrived whole is not a failure of the server: nothing is logged
    above INFO and nothing is answered (the metrics count it with status ``none``).
    """

    @functools.wraps(func)
    async def wrapper(request: Request) -> Response:
        try:
            return await func(request)
        except ClientDisconnect:
            logger.info("client left during %s %s", request.method, request.url.path)
            return _NoAnswer()
        except Problem as problem:
            return problem_response(problem)
        except EventStoreError as exc:
            translated = from_store_error(exc)
            if translated.status >= 500:
                logger.error("store call failed on %s %s", request.method, request.url.path, exc_info=exc)
            return problem_response(translated)
        except msgspec.MsgspecError as exc:
            return problem_response(from_decode_error(exc))
        except Exception as exc:
            logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
            return problem_response(Problem(500, "internal_error", "the server failed; see its log"))

    return wrapper


async def _cancellable(request: Request, call: Callable[[], T]) -> T:
    """Run a store call in the thread pool; if the client goes away first, cancel its database statement.

    The lock keeps the worker thread inside ``call`` while the cancel is sent, so that it can only reach
    this call's statement, never one of the next request the same thread serves.
    """
    lock = threading.Lock()
    thread: int | None = None
    running = True
    abandoned = False

    def run() -> T:
        nonlocal thread, running
        with lock:
            if abandoned:
                raise _ClientGone()
            thread = threading.get_ident()
        try:
            return call()
        finally:
            with lock:
                running = False

    def cancel() -> None:
        nonlocal abandoned
        with lock:
            abandoned = True
            if thread is not None and running:
                _state(request).store._cancel_statement(thread)

    work = asyncio.ensure_future(run_in_threadpool(run))
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        await asyncio.wait([work, gone], return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if not work.done():
        await run_in_threadpool(cancel)
        try:
            await work
        except Exception as exc:
            raise _ClientGone() from exc
        raise _ClientGone()
    return work.result()


async def _client_gone(request: Request) -> None:
    """Return when the client disconnects (the request body was read before)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


class _ClientGone(Problem):
    """The client went away while its call ran: nobody reads the answer, and it is no failure of the server."""

    def __init__(self) -> None:
        super().__init__(499, "client_gone", "the client went away before the answer; its statement was cancelled")


async def _body(request: Request, kind: type[T]) -> T:
    data = await read_body(request, _state(request).settings.max_body_bytes)
    return decode(data, kind)


# --- writing and reading ----------------------------------------------------------------------------------


def _idempotency_key(request: Request) -> str | None:
    """The ``Idempotency-Key`` header of an append, as sent; the store checks the key rule (422 otherwise)."""
    return request.headers.get("idempotency-key")


@endpoint
async def append(request: Request) -> Response:
    state = _state(request)
    wire = await _body(request, AppendIn)
    key = _idempotency_key(request)
    result = await run_in_threadpool(
        functools.partial(state.store.append, to_new_events(wire.events), idempotency_key=key)
    )
    state.metrics.committed(result.committed_count)
    return _json(result)


@endpoint
async def append_if(request: Request) -> Response:
    state = _state(request)
    wire = await _body(request, AppendIfIn)
    try:
        result = await run_in_threadpool(
            functools.partial(
                state.store.append_if,
                to_new_events(wire.events),
                to_event_query(wire.context_query),
                wire.expected_context_version,
                idempotency_key=_idempotency_key(request),
            )
        )
    except ConditionalAppendConflict:
        state.metrics.conflicted()
        raise
    state.metrics.committed(result.committed_count)
    return _json(result)


@endpoint
async def query(request: Request) -> Response:
    state = _state(request)
    wire = await _body(request, QueryIn)
    event_query = to_event_query(wire)
    result = await _cancellable(request, lambda: state.store.query(event_query))
    return _json(result)


@endpoint
async def head(request: Request) -> Response:
    return _json({"head": await run_in_threadpool(_state(request).store.head)})


# --- streams ----------------------------------------------------------------------------------------------


def _stream_query(request: Request) -> EventQuery:
    text = request.query_params.get("query")
    if text is None:
        return EventQuery()
    return to_event_query(decode(text, QueryIn))


def _start(text: str | None, default: Literal["beginning", "end"]) -> Any:
    """A start parameter as the store takes it; the store itself refuses anything else (with InvalidInput)."""
    if text is None:
        return default
    return sequence_number_from_text(text, "start") if _is_number(text) else text


def _is_number(text: str) -> bool:
    # isdigit() alone accepts characters such as "²" that int() refuses.
    return text.isascii() and text.isdigit()


class _NameConvertor(Convertor[str]):
    """Matches any durable name in a path, newlines included.

    Starlette's ``path`` convertor stops at a newline, and ``$`` let a trailing one slip through, so
    ``victim%0A`` reached ``victim``. The route reads the name itself from the raw path (:func:`_durable_name`).
    """

    regex = "[\\s\\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("durable_name", _NameConvertor())


def _durable_name(request: Request, prefix: str, suffix: str = "") -> str:
    """The durable name of a request, exactly as the client percent-encoded it.

    Read from the raw path, not the decoded one: the server decodes paths leniently (``%ff`` becomes U+FFFD,
    so two names could meet in one), while a name must be UTF-8 after percent-decoding or it is refused.
    """
    raw: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    head = (request.scope.get("root_path", "") + prefix).encode()
    if not raw.startswith(head) or not raw.endswith(suffix.encode()):
        raise Problem(404, "not_found", "write the route's own part of the path without percent-encoding")
    encoded = raw[len(head) : len(raw) - len(suffix)]
    try:
        return urllib.parse.unquote_to_bytes(encoded).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the durable name in the path is not UTF-8 once percent-decoded") from exc


def _flag(request: Request, name: str) -> bool:
    text = request.query_params.get(name, "false").lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise Problem(422, "invalid_input", f"{name} must be true or false, got {text!r}")


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


async def _open_stream(request: Request, stream: ServerStream, register: Callable[[], None]) -> Response:
    """Register the store streams, then answer with the event stream; undo everything on failure."""
    state = _state(request)
    if state.hub.shutting_down:
        raise Problem(503, "backend_error", "the server is shutting down")
    state.quota.take(stream.client)
    try:
        await run_in_threadpool(register)
    except BaseException:
        stream.request_end("refused")
        await stream.stop_store_stream()
        state.quota.give_back(stream.client)
        raise
    state.hub.add(stream)
    logger.info(
        "stream %s opened",
        stream.id,
        extra={
            "stream_id": stream.id,
            "kind": stream.kind,
            "durable_name": stream.durable_name,
            "position": stream.start_position,
            "client": stream.client,
        },
    )
    return EventStreamResponse(
        stream,
        heartbeat_seconds=state.settings.heartbeat_seconds,
        progress_seconds=state.settings.progress_seconds,
        on_close=state.stream_closed,
        on_batch=state.metrics.streamed,
    )


def _channel(state: ServerState) -> Channel:
    settings = state.settings
    return Channel(asyncio.get_running_loop(), settings.stream_buffer_bytes, settings.stream_stall_seconds)


@endpoint
async def stream_live(request: Request) -> Response:
    state = _state(request)
    stream_query = _stream_query(request)
    resume = request.headers.get("last-event-id")
    if resume is not None:
        if not _is_number(resume.strip()):
            raise Problem(400, "invalid_input", "Last-Event-ID must be a sequence number")
        start: Any = sequence_number_from_text(resume.strip(), "Last-Event-ID")
    else:
        start = _start(request.query_params.get("start"), "end")
    if start == "end":
        # Pin "the end" to a number so that the ready message says exactly where delivery starts.
        start = await run_in_threadpool(state.store.head) or 0
    stream = ServerStream(kind="live", client=_client(request), channel=_channel(state))
    stream.start_position = start if isinstance(start, int) and not isinstance(start, bool) else 0

    def register() -> None:
        stream.feed = state.store.stream_to(stream_query, stream.send, start=start)

    return await _open_stream(request, stream, register)


@endpoint
async def stream_durable(request: Request) -> Response:
    state = _state(request)
    name = _durable_name(request, "/streams/durable/")
    stream_query = _stream_query(request)
    start = _start(request.query_params.get("start"), "beginning")
    reset = _flag(request, "reset")
    channel = _channel(state)
    stream = ServerStream(kind="durable", client=_client(request), channel=channel, durable_name=name)

    def register() -> None:
        holder = state.store.stream_to_durable(
            name, stream_query, stream.await_acknowledgement, start=start, reset=reset
        )
        stream.holder = holder
        # The holder waits at its first matching batch for an acknowledgement, so its position has not
        # passed one yet: the feed starts there and sends exactly the batches the holder will wait for.
        stream.start_position = holder.position or 0
        stream.feed = state.store.stream_to(stream_query, stream.send, start=stream.start_position)

    return await _open_stream(request, stream, register)


def _server_stream(request: Request) -> ServerStream:
    stream = _state(request).hub.get(request.path_params["stream_id"])
    if stream is None:
        raise Problem(404, "not_found", "no open stream with this id on this server")
    return stream


@endpoint
async def ack_stream(request: Request) -> Response:
    wire = await _body(request, AckIn)
    if wire.sequence_number < 0:
        raise InvalidInput("sequence_number must not be negative")
    _server_stream(request).channel.ack(wire.sequence_number)
    return Response(status_code=204)


@endpoint
async def close_stream(request: Request) -> Response:
    stream = _server_stream(request)
    await _state(request).hub.end(stream, "unsubscribed")
    return Response(status_code=204)


# --- durable cursor admin ---------------------------------------------------------------------------------


@endpoint
async def list_durable_streams(request: Request) -> Response:
    infos = await run_in_threadpool(_state(request).store.durable_streams)
    return _json({"durable_streams": [to_wire(info) for info in infos]})


@endpoint
async def get_durable_stream(request: Request) -> Response:
    name = _durable_name(request, "/durable_streams/")
    info = await run_in_threadpool(_state(request).store.durable_stream, name)
    if info is None:
        raise Problem(404, "unknown_durable_stream", f"no durable stream named {name!r}")
    return _json(info)


@endpoint
async def reset_durable_stream(request: Request) -> Response:
    wire = await _body(request, ResetIn)
    name = _durable_name(request, "/durable_streams/", "/reset")
    await run_in_threadpool(_state(request).store.reset_durable_stream, name, wire.position)
    return Response(status_code=204)


@endpoint
async def delete_durable_stream(request: Request) -> Response:
    name = _durable_name(request, "/durable_streams/")
    await run_in_threadpool(_state(request).store.delete_durable_stream, name)
    return Response(status_code=204)


# --- operations -------------------------------------------------------------------------------------------


@endpoint
async def healthz(request: Request) -> Response:
    """Read the head, and say within HEALTH_TIMEOUT_SECONDS whether the database answers."""
    store = _state(request).store
    try:
        with anyio.fail_after(HEALTH_TIMEOUT_SECONDS):
            # Abandoned on timeout: the thread ends on its own (the store's connect and statement timeouts).
            head_now = await anyio.to_thread.run_sync(store.head, abandon_on_cancel=True)
    except TimeoutError:
        logger.warning("health check: the database did not answer within %s s", HEALTH_TIMEOUT_SECONDS)
        raise Problem(
            503, "backend_error", f"the database is unavailable: no answer within {HEALTH_TIMEOUT_SECONDS:g} s"
        ) from None
    except BackendError as exc:
        # Probes repeat every few seconds during an outage: one line each, not a traceback.
        logger.warning("health check: the database is unavailable: %s", exc)
        raise Problem(503, "backend_error", "the database is unavailable") from exc
    return _json({"status": "ok", "head": head_now})


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


ROUTES = [
    Route("/append", append, methods=["POST"]),
    Route("/append_if", append_if, methods=["POST"]),
    Route("/query", query, methods=["POST"]),
    Route("/head", head, methods=["GET"]),
    Route("/streams/live", stream_live, methods=["GET"]),
    Route("/streams/durable/{name:durable_name}", stream_durable, methods=["GET"]),
    Route("/streams/{stream_id}/ack", ack_stream, methods=["POST"]),
    Route("/streams/{stream_id}", close_stream, methods=["DELETE"]),
    Route("/durable_streams", list_durable_streams, methods=["GET"]),
    Route("/durable_streams/{name:durable_name}/reset", reset_durable_stream, methods=["POST"]),
    Route("/durable_streams/{name:durable_name}", get_durable_stream, methods=["GET"]),
    Route("/durable_streams/{name:durable_name}", delete_durable_stream, methods=["DELETE"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]
