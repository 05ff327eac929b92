"""Security headers on every gateway answer (a pure ASGI middleware: it touches only the response head).

Every answer (JSON, errors, 413s and 500s from the outer middleware, event
streams, the OpenAPI pages) carries:

* ``X-Content-Type-Options: nosniff``: a browser renders nothing as another type than declared;
* ``Referrer-Policy: no-referrer``: URLs (order ids, tracking codes) never leak to other sites;
* ``X-Frame-Options: DENY``: no page frames the gateway (clickjacking);
* ``Cross-Origin-Opener-Policy: same-origin`` and ``Cross-Origin-Resource-Policy: same-origin``:
  other sites' windows get no handle on ours, and cannot embed our answers (CORS still lets the
  allowed origins read the API: CORP does not apply to CORS requests);
* ``Strict-Transport-Security: max-age=<hsts_seconds>`` only when ``PAKLOG_HSTS_SECONDS`` says
  the gateway is served over TLS.

Answers under ``/api/`` also carry ``Content-Security-Policy: default-src
'none'; frame-ancestors 'none'`` (JSON never needs to load anything) and
``Cache-Control: no-store`` (they carry personal data; no cache along the way
keeps them). The OpenAPI pages (``/docs``, ``/redoc``, ``/openapi.json``) and
``/`` (the web app) do not get that strict policy: they load scripts and styles.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIX = "/api/"
_COMMON: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
_API: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cache-control", b"no-store"),
)


class SecurityHeadersMiddleware:
    """Add the security headers to every HTTP answer (see the module docstring).

    Args:
        app: The ASGI app inside.
        hsts_seconds: ``max-age`` of ``Strict-Transport-Security``; 0 sends none.
    """

    def __init__(self, app: ASGIApp, hsts_seconds: int = 0) -> None:
        self.app = app
        hsts = ((b"strict-transport-security", f"max-age={hsts_seconds}".encode()),) if hsts_seconds > 0 else ()
        self._everywhere = (*_COMMON, *hsts)
        self._api = (*self._everywhere, *_API)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._api if scope.get("path", "").startswith(API_PREFIX) else self._everywhere
        names = {name for name, _ in extra}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Ours win over a route's own (an event stream's ``Cache-Control: no-cache`` becomes ``no-store``).
                kept = [(name, value) for name, value in message.get("headers", []) if name.lower() not in names]
                message["headers"] = [*kept, *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
