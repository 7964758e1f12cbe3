"""The namespace part of the OpenAPI document: administration routes, and every log route again under /ns/{name}.

The namespaced routes are derived from the unprefixed ones (same bodies, answers and errors, one more path
parameter), so the two can never drift apart.
"""

from __future__ import annotations

import copy
from typing import Any

from .._namespaces import NAME_RULE

NAMESPACED_PATHS = (
    "/append",
    "/append_if",
    "/query",
    "/head",
    "/streams/live",
    "/streams/durable/{name}",
    "/streams/{stream_id}/ack",
    "/streams/{stream_id}",
    "/durable_streams",
    "/durable_streams/{name}/reset",
    "/durable_streams/{name}",
    "/stats",
    "/log",
    "/healthz",
)

NAMESPACE_ERROR_CODES = (
    "forbidden",
    "unknown_namespace",
    "namespace_exists",
    "namespace_busy",
    "too_many_namespaces",
    "namespaces_unsupported",
)

_NAMESPACE_PARAMETER = {
    "name": "namespace",
    "in": "path",
    "required": True,
    "description": f"The namespace: {NAME_RULE}. `default` is the log of the unprefixed routes.",
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,39}$"},
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_FORBIDDEN = _error(
    "`forbidden`: the token does not reach this namespace (the same answer whether it exists or not); or the "
    "browser rules (`host_not_allowed`, `origin_not_allowed`)."
)
_UNKNOWN = _error("`unknown_namespace`: no namespace of that name (or `not_found`, `unknown_durable_stream`).")

NAMESPACE_SCHEMAS: dict[str, Any] = {
    "CreateNamespaceRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {
                "type": "string",
                "description": f"{NAME_RULE}; absent: the server makes one up (`ns-` and 16 hex digits).",
            },
            "ephemeral": {
                "type": "boolean",
                "default": False,
                "description": (
                    "Dropped by the server when unused (no request, no open stream) for `idle_timeout_seconds`, "
                    "and when the server shuts down."
                ),
            },
            "idle_timeout_seconds": {
                "type": ["number", "null"],
                "exclusiveMinimum": 0,
                "maximum": 604800,
                "description": "Only for ephemeral namespaces; default 300.",
            },
        },
    },
    "Namespace": {
        "type": "object",
        "required": ["name", "ephemeral", "idle_timeout_seconds", "open_streams"],
        "properties": {
            "name": {"type": "string"},
            "ephemeral": {"type": "boolean"},
            "idle_timeout_seconds": {"type": ["number", "null"]},
            "open_streams": {
                "type": ["integer", "null"],
                "description": "Streams open on this server; null for a namespace this server has not opened.",
            },
        },
    },
    "NamespaceList": {
        "type": "object",
        "required": ["namespaces"],
        "properties": {
            "namespaces": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Namespace"},
                "description": "The default namespace first, then the others by name.",
            }
        },
    },
}

_ADMIN_ERRORS = {
    "401": _error("`unauthorized`: the bearer token is missing or wrong."),
    "403": _error("`forbidden`: only the admin token administers namespaces; or the browser rules."),
}

ADMIN_PATHS: dict[str, Any] = {
    "/namespaces": {
        "post": {
            "operationId": "createNamespace",
            "summary": "Create a namespace: an independent, empty log (docs/server.md, Namespaces).",
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateNamespaceRequest"}}},
            },
            "responses": {
                "201": {
                    "description": "Created.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Namespace"}}},
                },
                **_ADMIN_ERRORS,
                "409": _error("`namespace_exists`, or `namespaces_unsupported` (a server over another server)."),
                "422": _error("`invalid_input`: the name breaks the name rule, or a bad idle timeout."),
                "429": _error("`too_many_namespaces`: the server's limit (`--max-namespaces`) is reached."),
            },
        },
        "get": {
            "operationId": "listNamespaces",
            "summary": "Every namespace, the default one first.",
            "responses": {
                "200": {
                    "description": "The namespaces.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NamespaceList"}}},
                },
                **_ADMIN_ERRORS,
            },
        },
    },
    "/namespaces/{name}": {
        "delete": {
            "operationId": "dropNamespace",
            "summary": "Drop a namespace and everything in it.",
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                {
                    "name": "force",
                    "in": "query",
                    "required": False,
                    "description": "End the namespace's open streams (reason `namespace_dropped`) instead of refusing.",
                    "schema": {"type": "boolean", "default": False},
                },
            ],
            "responses": {
                "204": {"description": "Dropped."},
                **_ADMIN_ERRORS,
                "404": _error("`unknown_namespace`."),
                "409": _error("`namespace_busy`: it has open streams (use force=true); the default namespace."),
                "422": _error("`invalid_input`: the name breaks the name rule."),
            },
        }
    },
}


def namespaced_paths(paths: dict[str, Any]) -> dict[str, Any]:
    """The routes of one namespace, ``/ns/{namespace}/...``, made from the unprefixed ``paths``."""
    result: dict[str, Any] = {}
    for path in NAMESPACED_PATHS:
        item = copy.deepcopy(paths[path])
        for operation in item.values():
            operation["operationId"] = "namespace" + operation["operationId"][0].upper() + operation["operationId"][1:]
            operation["parameters"] = [_NAMESPACE_PARAMETER, *operation.get("parameters", [])]
            responses = operation["responses"]
            # A namespace's health says that it exists: unlike /healthz, it needs a token that reaches it.
            operation.pop("security", None)
            responses.setdefault("401", _error("`unauthorized`: the bearer token is missing or wrong."))
            responses["403"] = _FORBIDDEN
            responses["404"] = _UNKNOWN
            responses["422"] = responses.get("422") or _error("`invalid_input`: the namespace breaks the name rule.")
        result["/ns/{namespace}" + path] = item
    return result
