"""The OpenAPI document: served, checked in, and in step with the routes."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.routing import Route

from factstr._errors import ERROR_CODES
from factstr._wire import COMPONENTS, AppendIfRequest, schema_components
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


def test_document_is_openapi_3_1_with_a_problem_schema() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code", "message"} <= set(problem["properties"])


def test_the_documented_error_codes_are_the_error_classes_table() -> None:
    documented = openapi_document()["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
    assert set(documented) == set(ERROR_CODES)


def test_the_documented_schemas_are_generated_from_the_wire_structs() -> None:
    schemas = openapi_document()["components"]["schemas"]
    for struct in COMPONENTS:
        assert schemas[struct.__name__] == schema_components()[struct.__name__]
    # A field added to a wire Struct shows up in the document without anyone editing it.
    assert set(schemas["AppendIfRequest"]["properties"]) == set(AppendIfRequest.__struct_fields__)


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
