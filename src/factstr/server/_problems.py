"""Error responses: every failure becomes ``{"code": ..., "message": ...}`` with a stable code.

The codes are part of the API (openapi.json lists them); clients branch on the code, never on the message.
The Python client maps them back to the same exception classes the stores raise (:data:`ERRORS_BY_CODE`).
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

from .._errors import (
    AppendOutcomeUnknown,
    BackendError,
    ConditionalAppendConflict,
    DurableStreamActive,
    DurableStreamMismatch,
    EmptyAppend,
    EventStoreError,
    InvalidInput,
    StoreClosed,
    UnknownDurableStream,
)
from ._codec import records_to_wire


class Problem(Exception):
    """An HTTP error with a stable code, raised by the server's own checks (auth, limits, routing)."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


# Most specific first: EmptyAppend and the durable errors are InvalidInput too;
# AppendOutcomeUnknown is a BackendError.
_STORE_ERRORS: list[tuple[type[EventStoreError], int, str]] = [
    (ConditionalAppendConflict, 409, "conditional_append_conflict"),
    (EmptyAppend, 422, "empty_append"),
    (DurableStreamMismatch, 409, "durable_stream_mismatch"),
    (UnknownDurableStream, 404, "unknown_durable_stream"),
    (InvalidInput, 422, "invalid_input"),
    (DurableStreamActive, 409, "durable_stream_active"),
    (AppendOutcomeUnknown, 503, "append_outcome_unknown"),
    (StoreClosed, 503, "store_closed"),
    (BackendError, 503, "backend_error"),
    (EventStoreError, 503, "backend_error"),
]

ERRORS_BY_CODE: dict[str, type[EventStoreError]] = {
    "conditional_append_conflict": ConditionalAppendConflict,
    "empty_append": EmptyAppend,
    "durable_stream_mismatch": DurableStreamMismatch,
    "unknown_durable_stream": UnknownDurableStream,
    "invalid_input": InvalidInput,
    "durable_stream_active": DurableStreamActive,
    "append_outcome_unknown": AppendOutcomeUnknown,
}


def from_store_error(exc: EventStoreError) -> Problem:
    """Translate a store error into its HTTP problem."""
    for kind, status, code in _STORE_ERRORS:
        if isinstance(exc, kind):
            if isinstance(exc, ConditionalAppendConflict):
                return Problem(
                    status,
                    code,
                    str(exc),
                    expected=exc.expected,
                    actual=exc.actual,
                    facts=records_to_wire(exc.facts),
                    truncated=exc.truncated,
                )
            if status == 503:
                # Database messages can reveal internals; say what happened, log the details.
                return Problem(status, code, f"the store failed: {type(exc).__name__}")
            return Problem(status, code, str(exc))
    raise AssertionError("EventStoreError is the last entry")  # pragma: no cover


def from_decode_error(exc: msgspec.MsgspecError) -> Problem:
    """Translate a JSON decoding failure: 400 for malformed JSON, 422 for the wrong shape."""
    if isinstance(exc, msgspec.ValidationError):
        return Problem(422, "invalid_input", f"the request does not have the expected shape: {exc}")
    return Problem(400, "invalid_input", f"the request body is not valid JSON: {exc}")


def problem_response(problem: Problem) -> Response:
    """Return the JSON response of a problem."""
    body = {"code": problem.code, "message": problem.message, **problem.extra}
    headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
    return Response(msgspec.json.encode(body), problem.status, headers, media_type="application/json")
