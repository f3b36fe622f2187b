"""The OpenAPI document of the running application (`/schema/openapi.json`) shows the
body of every successful response: each operation's success status names a schema that
says what comes back (a Struct's properties, a list of them, a string...), not an empty
or "any object" schema, which is what a handler returning `dict[str, Any]` documents."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

METHODS = ("get", "post", "put", "patch", "delete")
NO_BODY = {"204", "205", "304"}


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The schema behind a `$ref` into `components/schemas`."""
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = doc["components"]["schemas"][name]
    return schema


def says_what(doc: dict[str, Any], schema: dict[str, Any] | None) -> bool:
    """Whether a schema tells a client what it gets: an object with properties (or a map
    of something that does), a list of such, a scalar type, or alternatives of these."""
    if not schema:
        return False
    schema = resolve(doc, schema)
    alternatives = schema.get("oneOf") or schema.get("anyOf")
    if alternatives:
        branches = [resolve(doc, s) for s in alternatives]
        return all(says_what(doc, s) for s in branches if s.get("type") != "null")
    kind = schema.get("type")
    if kind == "object":
        extra = schema.get("additionalProperties")
        return bool(schema.get("properties")) or (isinstance(extra, dict)
                                                  and says_what(doc, extra))
    if kind == "array":
        return says_what(doc, schema.get("items"))
    return kind in ("string", "integer", "number", "boolean") or "enum" in schema \
        or "const" in schema


def undocumented(doc: dict[str, Any]) -> list[str]:
    """`METHOD path (status)` of every operation whose success body has no real schema."""
    missing = []
    for path, item in sorted(doc["paths"].items()):
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            successes = sorted(s for s in operation.get("responses", {}) if s.startswith("2"))
            if not successes:
                missing.append(f"{method.upper()} {path}: no success response")
                continue
            status = successes[0]
            if status in NO_BODY:
                continue
            content = operation["responses"][status].get("content") or {}
            if not any(says_what(doc, media.get("schema")) for media in content.values()):
                missing.append(f"{method.upper()} {path} ({status})")
    return missing


def test_the_check_tells_a_typed_body_from_an_untyped_one() -> None:
    doc: dict[str, Any] = {"components": {"schemas": {
        "View": {"type": "object", "properties": {"id": {"type": "string"}}},
        "Empty": {"type": "object"}}}}
    typed = [{"$ref": "#/components/schemas/View"},
             {"type": "array", "items": {"$ref": "#/components/schemas/View"}},
             {"oneOf": [{"$ref": "#/components/schemas/View"}, {"type": "null"}]},
             {"type": "object", "additionalProperties": {"type": "integer"}},
             {"type": "string"}]
    untyped = [None, {}, {"type": "object"}, {"$ref": "#/components/schemas/Empty"},
               {"type": "object", "additionalProperties": {}},
               {"type": "array", "items": {}},
               {"oneOf": [{"$ref": "#/components/schemas/View"}, {"type": "object"}]}]
    assert all(says_what(doc, s) for s in typed)
    assert not any(says_what(doc, s) for s in untyped)


async def test_every_operation_documents_its_success_body(http: httpx.AsyncClient) -> None:
    r = await http.get("/schema/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert len(doc["paths"]) > 20, "the document lists the whole API"
    missing = undocumented(doc)
    assert not missing, ("operations whose success response documents no body:\n  "
                         + "\n  ".join(missing))
