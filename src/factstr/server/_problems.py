"""Error answers: every failure becomes an RFC 9457 problem (``application/problem+json``) with a stable code.

The codes are part of the API; clients branch on ``code``, never on the text. Each code, its status and its
title come from the one table the error classes own (``factstr._errors.ERROR_CODES``), which the Python client
reads too and the OpenAPI document lists for the TypeScript client. ``message`` repeats ``detail`` for clients
written before the answers were RFC 9457 problems.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

from .._errors import ERROR_CODES, ConditionalAppendConflict, EventStoreError
from .._wire import Problem as ProblemBody
from .._wire import encode, records_to_wire

MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """An HTTP error with a stable code, raised by the server's own checks (auth, limits, routing)."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def from_store_error(exc: EventStoreError) -> Problem:
    """Translate a store error into its HTTP problem: the code and status its class declares."""
    if isinstance(exc, ConditionalAppendConflict):
        return Problem(
            exc.status,
            exc.code,
            str(exc),
            expected=exc.expected,
            actual=exc.actual,
            facts=records_to_wire(exc.facts),
            truncated=exc.truncated,
        )
    if exc.status >= 500:
        # Database messages can reveal internals; say what happened, log the details.
        return Problem(exc.status, exc.code, f"the store failed: {type(exc).__name__}")
    return Problem(exc.status, exc.code, str(exc))


def from_decode_error(exc: msgspec.MsgspecError) -> Problem:
    """Translate a JSON decoding failure: 400 for malformed JSON, 422 for the wrong shape."""
    if isinstance(exc, msgspec.ValidationError):
        return Problem(422, "invalid_input", f"the request does not have the expected shape: {exc}")
    return Problem(400, "invalid_input", f"the request body is not valid JSON: {exc}")


def problem_body(status: int, code: str, message: str, **extra: Any) -> bytes:
    """The encoded problem document of an error answer."""
    known = ERROR_CODES.get(code)
    return encode(
        ProblemBody(
            type=f"urn:factstr:error:{code}",
            title=known.title if known is not None else code,
            status=status,
            detail=message,
            code=code,
            message=message,
            **extra,
        )
    )


def problem_response(problem: Problem) -> Response:
    """Return the problem+json response of a problem."""
    body = problem_body(problem.status, problem.code, problem.message, **problem.extra)
    headers = {"WWW-Authenticate": "Bearer"} if problem.status == 401 else None
    return Response(body, problem.status, headers, media_type=MEDIA_TYPE)
