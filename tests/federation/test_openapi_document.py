"""docs/federation.openapi.json is what the code generates, covers every route, and is bounded.

The document is generated from parley.federation.models (scripts/federation-openapi); the
signed fuzzer (test_federation_fuzz.py) builds its requests from it, so a route missing here
would go unfuzzed and a stale file would fuzz the wrong shapes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import schemathesis

# Loaded at collection, before any deep recursion (see test_fuzz.py).
import schemathesis.specs.openapi.schemas
from schemathesis.core.result import Ok

from parley.federation.models import MAX_INT, openapi, openapi_text
from parley.federation.server import federation_routes

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "federation.openapi.json"


def test_committed_document_is_what_the_code_generates() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == openapi_text(), (
        "docs/federation.openapi.json is out of date: run scripts/federation-openapi"
    )


def test_every_federation_route_is_in_the_document_and_nothing_else() -> None:
    # The routes' endpoints only close over the service; building them needs none.
    routes = federation_routes(cast(Any, None))
    served = {(r.path, m.lower()) for r in routes for m in (r.methods or ()) if m != "HEAD"}
    paths = openapi()["paths"]
    documented = {(path, method) for path, ops in paths.items() for method in ops}
    assert served == documented


def test_document_is_valid_openapi_3_1() -> None:
    schema = schemathesis.openapi.from_dict(json.loads(DOCUMENT.read_text(encoding="utf-8")))
    operations = list(schema.get_all_operations())
    assert len(operations) == 9
    for result in operations:
        assert isinstance(result, Ok), result


def test_every_operation_names_the_signature_headers_and_errors() -> None:
    doc = openapi()
    headers = {p["name"] for p in doc["components"]["parameters"].values() if p["in"] == "header"}
    assert headers == {
        "Parley-Origin",
        "Parley-Destination",
        "Parley-Time",
        "Parley-Nonce",
        "Parley-Signature",
    }
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            refs = {p.get("$ref", "").rsplit("/", 1)[-1] for p in op["parameters"]}
            assert {h.replace("-", "") for h in headers} <= refs, (path, method)
            assert {"400", "401", "403", "409", "413", "415", "422"} <= set(op["responses"]), (path, method)
            assert ("requestBody" in op) == (method == "post"), (path, method)


def _nodes(node: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if isinstance(node.get("type"), str):
            yield where, node
        for key, value in node.items():
            yield from _nodes(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _nodes(value, f"{where}[{i}]")


def test_every_integer_string_and_list_is_bounded() -> None:
    doc = openapi()
    seen = set()
    for where, schema in _nodes(doc["components"], "components"):
        kind = schema["type"]
        seen.add(kind)
        if kind == "integer":
            assert schema["minimum"] >= 0, where
            assert schema["maximum"] <= MAX_INT, where
        elif kind == "string" and "const" not in schema and "enum" not in schema:
            assert where.startswith("components.schemas.Error") or schema.get("maxLength"), where
        elif kind == "array":
            assert schema.get("maxItems"), where
    for where, schema in _nodes(doc["paths"], "paths"):
        if schema["type"] == "integer":
            assert schema["minimum"] >= 0, where
            assert schema["maximum"] <= MAX_INT, where
        if schema["type"] == "string":
            assert schema.get("maxLength"), where
    assert {"integer", "string", "array", "object"} <= seen
