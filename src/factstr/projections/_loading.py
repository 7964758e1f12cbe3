"""Finding a query model by its import path, for tools such as the ``factstr`` CLI."""

from __future__ import annotations

import importlib
from typing import Any

from .._errors import InvalidInput
from ._model import QueryModel


def load_query_model(path: str) -> QueryModel[Any]:
    """Import and return the QueryModel named ``"package.module:attribute"``.

    Raises InvalidInput when the path is malformed, the module cannot be imported, or the attribute is missing
    or is not a QueryModel. Importing runs the module's code, as any import does.
    """
    module_name, separator, attribute = path.partition(":") if isinstance(path, str) else ("", "", "")
    if not separator or not module_name or not attribute:
        raise InvalidInput(f"a query model is named as 'package.module:attribute', got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(f"cannot import {module_name!r} for query model {path!r}: {exc}") from exc
    found: object = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise InvalidInput(f"{module_name!r} has no attribute {attribute!r}")
        found = getattr(found, part)
    if not isinstance(found, QueryModel):
        raise InvalidInput(f"{path!r} is a {type(found).__name__}, not a factstr.projections.QueryModel")
    return found
