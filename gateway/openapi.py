"""The gateway's OpenAPI document, true to what the gateway sends.

FastAPI documents every request-validation failure as its own
``HTTPValidationError`` (``{"detail": [...]}``); our handler answers
``{"type", "detail"}`` instead, so every 422 is rewritten to :class:`ErrorBody`.
Every operation documents a 422, even one without parameters: text the
database cannot store (a NUL in a header, say) is refused before any route
runs (:class:`common.middleware.UnstorableInputMiddleware`). Every operation
that takes a bearer token documents a 403: a token of the wrong kind (a
partner system's on a route for people, ``PartnerToken``) is refused there.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from common.errors import ErrorBody
from common.webhooks import SIGNATURE_HEADER
from gateway.ratelimit import EXEMPT_TEMPLATES

_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_RATE_LIMITED = {
    "description": "Too many calls of this route by this caller (`RateLimited`); `Retry-After` says when to retry",
    "content": {"application/json": {"schema": _ERROR_REF}},
    "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 1}}},
}
_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def component_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its references pointing at ``#/components/schemas``, for a hand-written
    response (an event stream's ``data``). Pydantic's own ``#/$defs/...`` would point nowhere in the document;
    every model it names is in the components already (routes use them)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


def event_stream_content(model: type[BaseModel]) -> dict[str, Any]:
    """A Server-Sent Events response's ``content``: each event (``itemSchema``) carries ``model`` as JSON in ``data``.

    No ``schema`` beside it: next to an ``itemSchema`` a ``schema`` describes the
    whole stream (OpenAPI 3.2; validators read the stream as an array of events),
    and a stream that ends with no event (a resume past an ended order's last
    change) is then an empty array, not ``model``.
    """
    return {
        "text/event-stream": {
            "itemSchema": {
                "type": "object",
                "properties": {
                    "event": {"type": "string"},
                    "id": {"type": "string"},
                    "retry": {"type": "integer", "minimum": 0},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": component_schema(model),
                    },
                },
            }
        }
    }


def rewrite_validation_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Document a 422 and a 429 :class:`ErrorBody` on every operation (and a 400 on those with a body); drop
    FastAPI's schemas."""
    for template, path_item in document.get("paths", {}).items():
        for method, operation in path_item.items():
            if method not in _HTTP_METHODS:
                continue
            if template not in EXEMPT_TEMPLATES:  # every route is rate limited (gateway.ratelimit)
                operation.setdefault("responses", {}).setdefault("429", _RATE_LIMITED)
            operation.setdefault("responses", {})["422"] = {
                "description": "Malformed request, or well-formed but breaking a business rule",
                "content": {"application/json": {"schema": _ERROR_REF}},
            }
            if operation.get("security"):  # a token of the wrong kind (gateway.auth)
                operation["responses"].setdefault(
                    "403",
                    {
                        "description": "The caller's role may not do this (a partner system's token: `PartnerToken`)",
                        "content": {"application/json": {"schema": _ERROR_REF}},
                    },
                )
            if "requestBody" in operation:  # a body that is not UTF-8 (or not JSON at all) cannot be read
                operation["responses"].setdefault(
                    "400",
                    {
                        "description": "The body could not be read at all (not UTF-8, not the declared content type)",
                        "content": {"application/json": {"schema": _ERROR_REF}},
                    },
                )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorBody", ErrorBody.model_json_schema())
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the rewritten document at ``/openapi.json`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = rewrite_validation_errors(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def signed_webhook(event: type[BaseModel], secret: str) -> dict[str, Any]:
    """``openapi_extra`` of a signed webhook: the event as its body (read raw, so FastAPI cannot
    document it) and the ``X-PakLog-Signature`` header, the HMAC-SHA256 of that body with ``secret``."""
    schema = event.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "parameters": [
            {
                "name": SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
                "description": f"HMAC-SHA256 of the raw body with {secret}",
            }
        ],
    }
