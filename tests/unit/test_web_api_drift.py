"""The web app's typed client is generated from the committed OpenAPI document; it must be the gateway's own."""

from __future__ import annotations

import json

from gateway.web_api import OPENAPI_JSON, gateway_openapi, render


def test_the_committed_openapi_document_is_what_the_gateway_produces() -> None:
    committed = OPENAPI_JSON.read_text(encoding="utf-8")
    produced = render(gateway_openapi())
    assert json.loads(committed) == json.loads(produced), (
        "web/src/api/openapi.json is stale: run `make web-api` (it rewrites it and web/src/api/schema.d.ts)"
    )
    assert committed == produced


def test_every_reference_in_the_document_resolves() -> None:
    document = gateway_openapi()
    schemas = document["components"]["schemas"]
    refs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                refs.append(ref)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs
    dangling = {ref for ref in refs if not ref.startswith("#/components/schemas/") or ref.split("/")[-1] not in schemas}
    assert not dangling  # openapi-typescript refuses the document otherwise (the event streams' `#/$defs/...`)


def test_the_event_streams_describe_each_event_not_the_whole_stream() -> None:
    """Beside an ``itemSchema`` a ``schema`` would describe the whole stream: an ended stream (no event) broke it."""
    paths = gateway_openapi()["paths"]
    for template, model_field in (("/api/orders/{order_id}/events", "seq"), ("/api/orders/events", "cursor")):
        stream = paths[template]["get"]["responses"]["200"]["content"]["text/event-stream"]
        assert "schema" not in stream
        data = stream["itemSchema"]["properties"]["data"]
        assert data["contentMediaType"] == "application/json"
        assert model_field in data["contentSchema"]["properties"]
