"""The lock on the domain services' doors: a per-deployment service credential.

Every domain service (identity, orders, inventory, payments, notifications)
answers only callers that present the deployment's service token in the
:data:`SERVICE_TOKEN_HEADER` header: the gateway and the worker's activities.
Anything else on the host or the network gets 401
``{"type": "MissingServiceCredential" | "InvalidServiceCredential", "detail"}``
with a ``WWW-Authenticate`` challenge, in every environment, development too.

* The token is ``PAKLOG_SERVICE_TOKEN``, one random secret per deployment
  (32+ characters; a placeholder is refused outside development, see
  :class:`common.settings.ServiceCredential`). ``paklog dev`` and the test
  platform generate it at start into ``<state dir>/service.token`` (mode 0600)
  and hand it to every child; ``docker compose`` reads it from
  ``deploy/paklog.env``.
* It travels in its own header, not ``Authorization``, because identity's
  user routes already read a user's bearer token there.
* It is compared with :func:`hmac.compare_digest` (constant time), before the
  body is read or any route, validation or 404 runs, so an unauthenticated
  caller learns nothing about the API, its OpenAPI document included.
* Open without it: ``/healthz`` (liveness probes; it answers only a status)
  and identity's ``/.well-known/jwks.json`` (public keys, public by design).

The OpenAPI document of each service declares the scheme (an ``apiKey`` in a
header named :data:`SERVICE_TOKEN_HEADER`) on every operation, with its 401.

Rotating the token means restarting every process with the new value; it is a
shared secret for one trust zone (loopback, or the compose network), not a
replacement for TLS between hosts.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from common.errors import ErrorBody, error_response

SERVICE_TOKEN_HEADER = "X-PakLog-Service-Token"
SECURITY_SCHEME = "ServiceToken"
#: Paths any caller may reach: liveness probes, and the public half of identity's signing keys.
OPEN_PATHS = frozenset({"/healthz", "/.well-known/jwks.json"})
CHALLENGE = f'{SECURITY_SCHEME} realm="paklog-services", header="{SERVICE_TOKEN_HEADER}"'

_HEADER_KEY = SERVICE_TOKEN_HEADER.lower().encode()
_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def service_headers(token: str) -> dict[str, str]:
    """The header that opens a service's door, for an outgoing request.

    Args:
        token: The deployment's ``PAKLOG_SERVICE_TOKEN``.
    """
    return {SERVICE_TOKEN_HEADER: token}


class ServiceAuthMiddleware:
    """Answer 401 to any HTTP request without the service token, except on :data:`OPEN_PATHS`.

    Args:
        app: The service's ASGI app.
        token: The expected ``PAKLOG_SERVICE_TOKEN``.

    Raises:
        ValueError: ``token`` is empty (a door that opens for an empty header is no lock).
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        if not token:
            raise ValueError("the service token must not be empty")
        self.app = app
        self._expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = next((value for key, value in scope.get("headers", []) if key == _HEADER_KEY), None)
        if given is None:
            problem = (
                "MissingServiceCredential",
                f"this service answers only PakLog processes: send {SERVICE_TOKEN_HEADER}",
            )
        elif not hmac.compare_digest(given, self._expected):
            problem = ("InvalidServiceCredential", f"the {SERVICE_TOKEN_HEADER} header is not this deployment's token")
        else:
            await self.app(scope, receive, send)
            return
        response = error_response(401, *problem)
        response.headers["WWW-Authenticate"] = CHALLENGE
        await response(scope, receive, send)


def declare_service_auth(document: dict[str, Any]) -> dict[str, Any]:
    """Declare the service-token scheme on every operation of an OpenAPI document (and its 401).

    Operations that already name a scheme (identity's user bearer token) need
    both: the service token is added to each of their requirements.
    """
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "apiKey",
        "in": "header",
        "name": SERVICE_TOKEN_HEADER,
        "description": "The deployment's PAKLOG_SERVICE_TOKEN; only the gateway and the worker hold it.",
    }
    components.setdefault("schemas", {}).setdefault("ErrorBody", ErrorBody.model_json_schema())
    document["security"] = [{SECURITY_SCHEME: []}]
    for path, path_item in document.get("paths", {}).items():
        for method, operation in path_item.items():
            if method not in _HTTP_METHODS:
                continue
            if path in OPEN_PATHS:
                operation["security"] = []
                continue
            own = operation.get("security") or [{}]
            operation["security"] = [{**requirement, SECURITY_SCHEME: []} for requirement in own]
            operation.setdefault("responses", {}).setdefault(
                "401",
                {
                    "description": f"Missing or wrong {SERVICE_TOKEN_HEADER} (or, where a user is needed, bearer token)",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                },
            )
    return document


def install_service_auth(app: FastAPI, token: str) -> None:
    """Lock a service: :class:`ServiceAuthMiddleware` in front, the scheme in its OpenAPI document.

    Add it after body-reading middleware and before request-context
    middleware, so a refused call is logged with its request id and never
    has its body read.

    Args:
        app: The service app.
        token: The deployment's ``PAKLOG_SERVICE_TOKEN``.
    """
    app.add_middleware(ServiceAuthMiddleware, token=token)
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_service_auth(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
