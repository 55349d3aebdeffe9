"""The OpenAPI document names every route the API Gateway stack exposes."""

from __future__ import annotations

from redrive.openapi import openapi_document

ROUTES = {
    ("get", "/dead-letters"),
    ("post", "/dead-letters/redrive"),
    ("get", "/dead-letters/{record_key}"),
    ("post", "/dead-letters/{record_key}/redrive"),
    ("post", "/dead-letters/{record_key}/discard"),
}


def test_every_route_is_documented() -> None:
    document = openapi_document()
    documented = {(verb, path) for path, item in document["paths"].items() for verb in item}
    assert documented == ROUTES


def test_document_shapes() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    listing = paths["/dead-letters"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"pay_run_id", "employer_id", "error_code"}
    discard = paths["/dead-letters/{record_key}/discard"]["post"]
    assert discard["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DiscardRequest"
    }
    for path in ("/dead-letters/redrive", "/dead-letters/{record_key}/redrive"):
        responses = paths[path]["post"]["responses"]
        assert responses["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/RedriveReport"
        }
        assert "404" in responses
    schemas = document["components"]["schemas"]
    assert {
        "DeadLetterPage",
        "DeadLetterEntry",
        "DeadLetterRecord",
        "DiscardResult",
        "RedriveReport",
        "RedriveOutcome",
    } <= set(schemas)
