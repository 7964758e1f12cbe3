"""The OpenAPI document: served, checked in, and in step with the routes."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.routing import Route

from factstr.server import openapi_document
from factstr.server._namespace_routes import NAMESPACE_ROUTES
from factstr.server._openapi_namespaces import NAMESPACED_PATHS
from factstr.server._routes import ROUTES
from factstr.server._stats import STATS_ROUTES

from .conftest import Served

CHECKED_IN = Path(__file__).resolve().parents[2] / "openapi.json"


def test_checked_in_openapi_json_is_what_the_server_serves(served: Served) -> None:
    served_document = served.http.get("/openapi.json").json()
    assert served_document == json.loads(CHECKED_IN.read_text()), (
        "openapi.json is out of date: regenerate it with "
        "python -c 'import json; from factstr.server import openapi_document; "
        "print(json.dumps(openapi_document(), indent=2))' > openapi.json"
    )


def test_document_is_openapi_3_1_with_an_error_schema() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    assert {"code", "message"} <= set(document["components"]["schemas"]["Error"]["properties"])


def test_every_route_is_documented_and_every_documented_path_exists() -> None:
    documented = {(path, method.upper()) for path, item in openapi_document()["paths"].items() for method in item}
    served = set()
    for route in ROUTES + STATS_ROUTES + NAMESPACE_ROUTES:
        assert isinstance(route, Route)
        path = route.path.replace(":durable_name}", "}")
        served |= {(path, method) for method in route.methods or () if method != "HEAD"}
    # Every route of a namespace's log exists again under /ns/{namespace}.
    served |= {("/ns/{namespace}" + path, method) for path, method in served if path in NAMESPACED_PATHS}
    assert documented == served
