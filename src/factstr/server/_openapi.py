"""The OpenAPI 3.1 document of the HTTP API, as data.

This is the API's written contract for other clients (the TypeScript package is generated against it). The
server serves it at ``/openapi.json`` and the repository keeps a copy in ``openapi.json``; a test fails when
the two differ, so change the API here first. Field names are the contract's own words (docs/contract.md, C1).
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from ._openapi_namespaces import ADMIN_PATHS, NAMESPACE_ERROR_CODES, NAMESPACE_SCHEMAS, namespaced_paths

_SEQ = {
    "type": "integer",
    "minimum": 1,
    "description": "A global sequence number (JSON integer; exact in JavaScript up to 2^53 - 1).",
}
_OPTIONAL_SEQ = {"type": ["integer", "null"], "minimum": 1}
_POSITION = {
    "type": "integer",
    "minimum": 0,
    "description": "A position in the log: everything up to and including this number (0: before the first).",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema_name: str, description: str) -> dict[str, Any]:
    return {
        "required": True,
        "description": description,
        "content": {"application/json": {"schema": _ref(schema_name)}},
    }


def _ok(schema_name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema_name)}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _errors(*codes: int) -> dict[str, Any]:
    known = {
        400: "`invalid_input`: the body or a parameter is not valid JSON / not the expected shape.",
        401: "`unauthorized`: the bearer token is missing or wrong.",
        403: (
            "`host_not_allowed` (the Host header names no address of this server) or `origin_not_allowed` "
            "(a browser page of another origin)."
        ),
        404: "`unknown_durable_stream` or `not_found`.",
        409: "`durable_stream_active` or `durable_stream_mismatch`.",
        413: "`payload_too_large`: the request body is above the server's limit.",
        415: "`unsupported_media_type`: a request body must be sent as `Content-Type: application/json`.",
        422: "`invalid_input` or `empty_append`: well-formed JSON that breaks the contract (C7).",
        429: "`too_many_streams`: this client already has the maximum number of open streams.",
        503: "`backend_error`, `append_outcome_unknown` or `store_closed`: the database failed.",
    }
    # Every route can meet the browser rules (403): a Host that is not this server's, a foreign page.
    return {str(code): _error(known[code]) for code in sorted({*codes, 403})}


_SCHEMAS: dict[str, Any] = {
    "NewEvent": {
        "type": "object",
        "description": "A fact to append.",
        "required": ["event_type", "payload"],
        "additionalProperties": False,
        "properties": {
            "event_type": {"type": "string", "minLength": 1, "description": "Case-sensitive; no NUL."},
            "payload": {"description": "Any JSON value; strings and keys without NUL; integers in int64."},
        },
    },
    "EventFilter": {
        "type": "object",
        "description": (
            "One alternative of a query: the type part AND the payload part must match (C2). "
            "`null` (or absent) means any; `[]` means nothing."
        ),
        "additionalProperties": False,
        "properties": {
            "event_types": {"type": ["array", "null"], "items": {"type": "string"}, "default": None},
            "payload_predicates": {"type": ["array", "null"], "items": {}, "default": None},
        },
    },
    "EventQuery": {
        "type": "object",
        "description": "Which facts to read: any of `filters` (null or [] = every fact), after a position.",
        "additionalProperties": False,
        "properties": {
            "filters": {"type": ["array", "null"], "items": _ref("EventFilter"), "default": None},
            "min_sequence_number": {
                "type": ["integer", "null"],
                "minimum": 0,
                "default": None,
                "description": "Exclusive lower bound (null or 0: from the start); append_if ignores it.",
            },
            "limit": {"type": ["integer", "null"], "minimum": 0, "default": None},
            "backwards": {"type": "boolean", "default": False, "description": "Newest first."},
            "max_sequence_number": {
                "type": ["integer", "null"],
                "minimum": 0,
                "default": None,
                "description": (
                    "Inclusive upper bound (null: none): the log as it was at that number, records and "
                    "current_context_version alike. Refused (422) by append_if and streams."
                ),
            },
        },
    },
    "EventRecord": {
        "type": "object",
        "description": "A committed fact.",
        "required": ["sequence_number", "occurred_at", "event_type", "payload"],
        "properties": {
            "sequence_number": _SEQ,
            "occurred_at": {
                "type": "string",
                "format": "date-time",
                "description": "Commit time in UTC with six fractional digits: 2026-01-31T12:00:00.000123Z.",
            },
            "event_type": {"type": "string"},
            "payload": {},
        },
    },
    "QueryResult": {
        "type": "object",
        "required": ["event_records", "last_returned_sequence_number", "current_context_version", "head"],
        "properties": {
            "event_records": {"type": "array", "items": _ref("EventRecord")},
            "last_returned_sequence_number": _OPTIONAL_SEQ,
            "current_context_version": {
                **_OPTIONAL_SEQ,
                "description": (
                    "Highest matching number in the log, whatever min_sequence_number says "
                    "(at or below max_sequence_number, when given)."
                ),
            },
            "head": {
                **_OPTIONAL_SEQ,
                "description": "The log's head in the snapshot the records come from (null: empty log).",
            },
        },
    },
    "AppendRequest": {
        "type": "object",
        "required": ["events"],
        "additionalProperties": False,
        "properties": {"events": {"type": "array", "items": _ref("NewEvent")}},
    },
    "AppendIfRequest": {
        "type": "object",
        "required": ["events", "context_query", "expected_context_version"],
        "additionalProperties": False,
        "properties": {
            "events": {"type": "array", "items": _ref("NewEvent")},
            "context_query": _ref("EventQuery"),
            "expected_context_version": {
                "type": ["integer", "null"],
                "minimum": 0,
                "description": "null (or 0): no matching event is expected.",
            },
        },
    },
    "AppendResult": {
        "type": "object",
        "required": ["first_sequence_number", "last_sequence_number", "committed_count"],
        "properties": {
            "first_sequence_number": _SEQ,
            "last_sequence_number": _SEQ,
            "committed_count": {"type": "integer", "minimum": 1},
        },
    },
    "Head": {
        "type": "object",
        "required": ["head"],
        "properties": {"head": {**_OPTIONAL_SEQ, "description": "null for an empty log."}},
    },
    "DurableStreamInfo": {
        "type": "object",
        "required": ["name", "query", "cursor", "head", "lag", "active"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "query": _ref("EventQuery"),
            "cursor": {
                **_OPTIONAL_SEQ,
                "description": "Last fully handled number; null: nothing handled yet.",
            },
            "head": _OPTIONAL_SEQ,
            "lag": {"type": "integer", "minimum": 0, "description": "head minus cursor (null counts as 0)."},
            "active": {"type": "boolean", "description": "Held by a stream somewhere (any process)."},
        },
    },
    "DurableStreamList": {
        "type": "object",
        "required": ["durable_streams"],
        "properties": {"durable_streams": {"type": "array", "items": _ref("DurableStreamInfo")}},
    },
    "ResetRequest": {
        "type": "object",
        "required": ["position"],
        "additionalProperties": False,
        "properties": {"position": _POSITION},
    },
    "AckRequest": {
        "type": "object",
        "required": ["sequence_number"],
        "additionalProperties": False,
        "properties": {"sequence_number": _POSITION},
    },
    "StreamReady": {
        "type": "object",
        "description": "Data of the first SSE message (`event: ready`) of every stream.",
        "required": ["stream_id", "kind", "durable_name", "position", "heartbeat_seconds"],
        "properties": {
            "stream_id": {
                "type": "string",
                "description": "For POST /streams/{id}/ack and DELETE /streams/{id}.",
            },
            "kind": {"type": "string", "enum": ["live", "durable"]},
            "durable_name": {"type": ["string", "null"]},
            "position": {
                **_POSITION,
                "description": "The stream starts after this number (a durable stream: its stored cursor).",
            },
            "heartbeat_seconds": {"type": "number"},
        },
    },
    "LogRecord": {
        "type": "object",
        "description": "A committed fact with the first sequence number of the batch it was committed in.",
        "required": ["sequence_number", "occurred_at", "event_type", "payload", "batch_first_sequence_number"],
        "properties": {
            "sequence_number": _SEQ,
            "occurred_at": {"type": "string", "format": "date-time"},
            "event_type": {"type": "string"},
            "payload": {},
            "batch_first_sequence_number": {
                **_OPTIONAL_SEQ,
                "description": "Facts with the same number were committed together; null when the served store "
                "forwards to another server and cannot tell.",
            },
        },
    },
    "LogPage": {
        "type": "object",
        "required": ["head", "records"],
        "properties": {
            "head": _OPTIONAL_SEQ,
            "records": {"type": "array", "items": _ref("LogRecord"), "description": "Newest first."},
        },
    },
    "Statistics": {
        "type": "object",
        "description": "What the web inspector's overview shows.",
        "required": [
            "head",
            "store_kind",
            "version",
            "counted_through",
            "event_types",
            "other_types_count",
            "append_rate",
        ],
        "properties": {
            "head": _OPTIONAL_SEQ,
            "store_kind": {"type": "string", "description": "memory, sqlite, postgresql or http."},
            "version": {"type": "string", "description": "The factstr version of the server."},
            "counted_through": {
                **_POSITION,
                "description": "The counts cover the log up to this number; below the head while they catch up.",
            },
            "event_types": {
                "type": "array",
                "description": "Facts per event type, most first (at most 10 000 types by name).",
                "items": {
                    "type": "object",
                    "required": ["event_type", "count"],
                    "properties": {"event_type": {"type": "string"}, "count": {"type": "integer", "minimum": 1}},
                },
            },
            "other_types_count": {
                "type": "integer",
                "minimum": 0,
                "description": "Facts of the types beyond the first 10 000, counted together.",
            },
            "append_rate": {
                "type": "object",
                "required": ["bucket_seconds", "buckets"],
                "properties": {
                    "bucket_seconds": {"type": "integer", "minimum": 1},
                    "buckets": {
                        "type": "array",
                        "description": "Consecutive buckets, oldest first, the last one holding now.",
                        "items": {
                            "type": "object",
                            "required": ["start", "facts", "batches"],
                            "properties": {
                                "start": {"type": "string", "format": "date-time"},
                                "facts": {"type": "integer", "minimum": 0},
                                "batches": {"type": "integer", "minimum": 0},
                            },
                        },
                    },
                },
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "head"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}, "head": _OPTIONAL_SEQ},
    },
    "Error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {
                "type": "string",
                "enum": [
                    "invalid_input",
                    "empty_append",
                    "conditional_append_conflict",
                    "durable_stream_active",
                    "durable_stream_mismatch",
                    "unknown_durable_stream",
                    "unauthorized",
                    "host_not_allowed",
                    "origin_not_allowed",
                    "unsupported_media_type",
                    "request_timeout",
                    "payload_too_large",
                    "too_many_streams",
                    "not_found",
                    "method_not_allowed",
                    "backend_error",
                    "append_outcome_unknown",
                    "store_closed",
                    "internal_error",
                    *NAMESPACE_ERROR_CODES,
                ],
                "description": "Stable; branch on this, not on the message.",
            },
            "message": {"type": "string", "description": "Human-readable; may change between versions."},
            "expected": {**_OPTIONAL_SEQ, "description": "Only with conditional_append_conflict."},
            "actual": {**_OPTIONAL_SEQ, "description": "Only with conditional_append_conflict."},
            "facts": {
                "type": "array",
                "items": _ref("EventRecord"),
                "description": (
                    "Only with conditional_append_conflict: the context's facts after `expected` up to `actual`, "
                    "oldest first, at most 100, read in the transaction that found the conflict."
                ),
            },
            "truncated": {
                "type": "boolean",
                "description": "Only with conditional_append_conflict: more facts than the 100 in `facts`.",
            },
        },
    },
}

_STREAM_DESCRIPTION = """\
A `text/event-stream` (server-sent events). Messages:

* `event: ready`, data: a `StreamReady` object. Always first; the stream is registered when it arrives.
* (no event name), `id: <n>`, data: a JSON array of `EventRecord`: the matching events of ONE committed batch,
  in order; `n` is the batch's last sequence number.
* `event: progress`, `id: <n>`, data: `{"position": n}`: the stream has read the log up to `n` and nothing
  up to `n` is left to send (lets a reader wait for a number whose batch did not match).
* a comment line `: heartbeat` every `heartbeat_seconds` while idle.
* `event: end`, data: `{"reason": "..."}`: the server ends the stream (`unsubscribed`, `shutdown`, `stopped`,
  or `slow_consumer`: the client took nothing from its full buffer for the stall time; resume as after a
  lost connection).
"""

_QUERY_PARAMETER = {
    "name": "query",
    "in": "query",
    "required": False,
    "description": "An `EventQuery` as JSON text (URL-encoded); absent: every event.",
    "schema": {"type": "string"},
}
_START_PARAMETER = {
    "name": "start",
    "in": "query",
    "required": False,
    "description": '"beginning", "end", or a sequence number to start after.',
    "schema": {"type": "string"},
}
_NAME_PARAMETER = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": (
        "The durable name, percent-encoded byte for byte (`quote(name, safe='')`): it must be UTF-8 once "
        "decoded (else 422). 1 to 200 characters."
    ),
    "schema": {"type": "string"},
}
_IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Makes a retry safe (C9.4): if the log holds a batch appended with this key, the answer is that batch's "
        "AppendResult and nothing is written (whatever the condition says now); the same key with other events "
        "is 422 `invalid_input`. 1 to 128 characters, each a letter, a digit or one of `- _ . : ~ + / =` "
        "(else 422). Keys are kept forever."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9_.:~+/=-]{1,128}$"},
}
_STREAM_ID_PARAMETER = {"name": "stream_id", "in": "path", "required": True, "schema": {"type": "string"}}
_SSE = {"text/event-stream": {"schema": {"type": "string"}}}


_PATHS: dict[str, Any] = {
    "/append": {
        "post": {
            "operationId": "append",
            "summary": "Commit events atomically as one batch (C4).",
            "parameters": [_IDEMPOTENCY_KEY_PARAMETER],
            "requestBody": _json_body("AppendRequest", "The events of one batch."),
            "responses": {
                "200": _ok("AppendResult", "The committed range."),
                **_errors(400, 401, 413, 415, 422, 503),
            },
        }
    },
    "/append_if": {
        "post": {
            "operationId": "appendIf",
            "summary": "Commit only if the context's current version is the expected one (C5).",
            "parameters": [_IDEMPOTENCY_KEY_PARAMETER],
            "requestBody": _json_body("AppendIfRequest", "The events and the condition."),
            "responses": {
                "200": _ok("AppendResult", "The committed range."),
                "409": _error(
                    "`conditional_append_conflict`, with `expected`, `actual`, `facts` and `truncated`: "
                    "nothing committed."
                ),
                **_errors(400, 401, 413, 415, 422, 503),
            },
        }
    },
    "/query": {
        "post": {
            "operationId": "query",
            "summary": "Read the matching events after min_sequence_number (C3, C8).",
            "requestBody": _json_body("EventQuery", "The query; `{}` reads everything."),
            "responses": {
                "200": _ok("QueryResult", "Records and versions from one snapshot."),
                **_errors(400, 401, 413, 415, 422, 503),
            },
        }
    },
    "/head": {
        "get": {
            "operationId": "head",
            "summary": "The highest committed sequence number.",
            "responses": {"200": _ok("Head", "The head."), **_errors(401, 503)},
        }
    },
    "/streams/live": {
        "get": {
            "operationId": "streamLive",
            "summary": "A live stream: every matching batch committed after registration (C6).",
            "description": _STREAM_DESCRIPTION
            + "\nResume with the `Last-Event-ID` header (or `start=<n>`): delivery continues after that "
            "number with no gap and no duplicate.",
            "parameters": [
                _QUERY_PARAMETER,
                _START_PARAMETER,
                {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {"description": "The event stream.", "content": _SSE},
                **_errors(400, 401, 422, 429, 503),
            },
        }
    },
    "/streams/durable/{name}": {
        "get": {
            "operationId": "streamDurable",
            "summary": "A durable stream: replay after the stored cursor, then live (C6.1).",
            "description": _STREAM_DESCRIPTION
            + "\nThe name is held while the connection is open. After handling a batch the client MUST "
            "acknowledge it with POST /streams/{stream_id}/ack: the stored cursor moves only with "
            "acknowledgements (the server may send a few batches ahead of them). `Last-Event-ID` is ignored: "
            "the stored cursor decides where it resumes.",
            "parameters": [
                _NAME_PARAMETER,
                _QUERY_PARAMETER,
                _START_PARAMETER,
                {
                    "name": "reset",
                    "in": "query",
                    "required": False,
                    "description": "true: replace a stored query and start at `start`.",
                    "schema": {"type": "boolean", "default": False},
                },
            ],
            "responses": {
                "200": {"description": "The event stream.", "content": _SSE},
                **_errors(400, 401, 409, 422, 429, 503),
            },
        }
    },
    "/streams/{stream_id}/ack": {
        "post": {
            "operationId": "ackStream",
            "summary": "Acknowledge that a durable stream's batches up to a number were handled.",
            "description": (
                "Only what this stream delivered can be acknowledged: a number above its last batch or progress "
                "position is 422 `invalid_input` and changes nothing; one at or below the stored cursor changes "
                "nothing."
            ),
            "parameters": [_STREAM_ID_PARAMETER],
            "requestBody": _json_body("AckRequest", "The last handled sequence number."),
            "responses": {"204": {"description": "Acknowledged."}, **_errors(400, 401, 404, 415, 422)},
        }
    },
    "/streams/{stream_id}": {
        "delete": {
            "operationId": "closeStream",
            "summary": "End a stream; returns once the server stopped it and released its durable name.",
            "description": "A durable stream's unacknowledged batch stays unhandled: its cursor stays.",
            "parameters": [_STREAM_ID_PARAMETER],
            "responses": {"204": {"description": "Ended."}, **_errors(401, 404)},
        }
    },
    "/durable_streams": {
        "get": {
            "operationId": "listDurableStreams",
            "summary": "Every stored durable cursor, sorted by name.",
            "responses": {"200": _ok("DurableStreamList", "The cursors."), **_errors(401, 503)},
        }
    },
    "/durable_streams/{name}": {
        "get": {
            "operationId": "getDurableStream",
            "summary": "One stored durable cursor.",
            "parameters": [_NAME_PARAMETER],
            "responses": {"200": _ok("DurableStreamInfo", "The cursor."), **_errors(401, 404, 422, 503)},
        },
        "delete": {
            "operationId": "deleteDurableStream",
            "summary": "Forget a stored cursor (nothing happens if there is none).",
            "parameters": [_NAME_PARAMETER],
            "responses": {"204": {"description": "Deleted."}, **_errors(401, 409, 422, 503)},
        },
    },
    "/durable_streams/{name}/reset": {
        "post": {
            "operationId": "resetDurableStream",
            "summary": "Set a stored cursor: the next registration resumes after `position`.",
            "parameters": [_NAME_PARAMETER],
            "requestBody": _json_body("ResetRequest", "The new cursor."),
            "responses": {"204": {"description": "Reset."}, **_errors(400, 401, 404, 409, 415, 422, 503)},
        }
    },
    "/stats": {
        "get": {
            "operationId": "statistics",
            "summary": "Facts per type, the append rate of the last ten minutes, the store kind and version.",
            "description": "The counts are kept by one live stream over the whole log that the server starts "
            "at the first request, so an answer costs the same however long the log is. Until that stream has "
            "caught up, `counted_through` is below `head` and the counts cover the log up to it.",
            "responses": {"200": _ok("Statistics", "The statistics."), **_errors(401, 503)},
        }
    },
    "/log": {
        "get": {
            "operationId": "logPage",
            "summary": "A page of consecutive facts, newest first, each with the first number of its batch.",
            "description": "Without `before` or `after`: the newest `limit` facts. One bounded read by "
            "sequence number, however long the log is.",
            "parameters": [
                {
                    "name": "before",
                    "in": "query",
                    "required": False,
                    "description": "The facts just below this number.",
                    "schema": {"type": "integer", "minimum": 0},
                },
                {
                    "name": "after",
                    "in": "query",
                    "required": False,
                    "description": "The facts just above this number (not with `before`).",
                    "schema": {"type": "integer", "minimum": 0},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                },
            ],
            "responses": {"200": _ok("LogPage", "The page."), **_errors(401, 422, 503)},
        }
    },
    "/healthz": {
        "get": {
            "operationId": "health",
            "summary": "Liveness and database reachability; never needs a token.",
            "security": [],
            "responses": {"200": _ok("Health", "Serving."), "503": _error("`backend_error`.")},
        }
    },
    "/metrics": {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus text exposition.",
            "responses": {
                "200": {"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}},
                **_errors(401),
            },
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document; never needs a token.",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1.", "content": {"application/json": {}}}},
        }
    },
}


def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of the HTTP API (a fresh dict)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "FACTSTR HTTP API",
            "version": __version__,
            "description": (
                "The FACTSTR event store contract over HTTP: JSON requests and responses, server-sent events "
                "for streams. Sequence numbers are JSON integers (exact in JavaScript up to 2^53 - 1). "
                'Errors are `{"code": ..., "message": ...}` with a stable code.'
            ),
        },
        "servers": [{"url": "http://127.0.0.1:7117"}],
        "security": [{"bearer": []}],
        "paths": {**_PATHS, **ADMIN_PATHS, **namespaced_paths(_PATHS)},
        "components": {
            "schemas": {**_SCHEMAS, **NAMESPACE_SCHEMAS},
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Required when the server was started with a token.",
                }
            },
        },
    }
