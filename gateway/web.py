"""The web app (``web/``, Vue): its built files served at ``/`` and its small config endpoint.

The gateway serves ``web/dist`` (``PAKLOG_WEB_DIST`` overrides where it is) beside the API:

- ``/assets/...`` (Vite's content-hashed files) with a year-long immutable cache;
- any other file of ``dist`` as it is, ``no-cache``;
- the SPA fallback: a ``GET``/``HEAD`` that names no file, is not reserved (``/api``, ``/docs``, ``/redoc``,
  ``/openapi.json``, ``/healthz``) and accepts HTML gets ``index.html`` (``no-cache``), so a reload of
  ``/orders/42`` opens the app there;
- without a built app, ``/`` answers in plain text how to build it (``503``).

Everything else passes through to the API untouched: an unknown ``/api`` path stays a JSON ``404``, and the
strict ``default-src 'none'`` policy of ``/api`` is not this module's. The pages get :data:`WEB_CSP` (no inline
script or style: Vite's build emits neither); the headers every answer carries (``nosniff``, ``no-referrer``,
``X-Frame-Options``, the cross-origin policies, HSTS) come from :mod:`gateway.headers`, outside this one, which
leaves a page's ``Content-Security-Policy`` and ``Cache-Control`` alone (it sets them on ``/api/*`` only).
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

import structlog
from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth import PrincipalDep
from gateway.errors import error_responses

log = structlog.get_logger(__name__)

#: The repository's ``web/dist`` (a source checkout); an installed image sets ``PAKLOG_WEB_DIST``.
DEFAULT_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
#: Paths the app never answers: the API and the gateway's own documents.
RESERVED_PREFIXES = ("/api", "/docs", "/redoc", "/openapi.json", "/healthz")
#: The pages' policy: the app's own scripts, styles and API only; no framing.
WEB_CSP = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
NOT_BUILT = (
    "The PakLog web app is not built yet.\n\n"
    "Build it with `make web` (needs Node 20 and npm), or run `make dev`, which builds it when its sources change.\n"
    "The API is at /api and its documentation at /docs.\n"
)


def is_reserved(path: str) -> bool:
    """Whether ``path`` belongs to the API or the gateway's documents, never to the app."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in RESERVED_PREFIXES)


def _accepts_html(headers: Headers) -> bool:
    accept = headers.get("accept", "")
    return "text/html" in accept or "*/*" in accept


class WebAppMiddleware:
    """Serve the built app for the paths the API does not own (see the module docstring)."""

    def __init__(self, app: ASGIApp, dist: Path) -> None:
        self.app = app
        self.dist = dist.resolve()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or is_reserved(scope["path"]):
            await self.app(scope, receive, send)
            return
        response = self._answer(scope)
        if response is None:
            await self.app(scope, receive, send)
            return
        response.headers["Content-Security-Policy"] = WEB_CSP
        await response(scope, receive, send)

    def _answer(self, scope: Scope) -> Response | None:
        path: str = scope["path"]
        index = self.dist / "index.html"
        if not index.is_file():
            return PlainTextResponse(NOT_BUILT, status_code=503) if path == "/" else None
        file = self._file(path)
        if file is not None and file != index:
            cache = IMMUTABLE if path.startswith("/assets/") else NO_CACHE
            media_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            return FileResponse(file, media_type=media_type, headers={"Cache-Control": cache})
        if file == index or _accepts_html(Headers(scope=scope)):
            return FileResponse(index, media_type="text/html", headers={"Cache-Control": NO_CACHE})
        return None

    def _file(self, path: str) -> Path | None:
        """The file of ``dist`` that ``path`` names, never one outside it."""
        relative = path.lstrip("/")
        if not relative:
            return None
        candidate = (self.dist / relative).resolve()
        if not candidate.is_relative_to(self.dist) or not candidate.is_file():
            return None
        return candidate


def web_dist(configured: Path | None) -> Path:
    """Where the built app is: ``PAKLOG_WEB_DIST``, else :data:`DEFAULT_DIST` (logged when it is not built)."""
    where = configured or DEFAULT_DIST
    if not (where / "index.html").is_file():
        log.info("web_app_not_built", dist=str(where))
    return where


class WebConfig(BaseModel):
    """What the web app needs to know about this deployment."""

    temporal_ui_url: str
    temporal_namespace: str


config_router = APIRouter(prefix="/api/web-config", tags=["web"], responses=error_responses(401))


@config_router.get("", response_model=WebConfig)
async def web_config(request: Request, _: PrincipalDep) -> WebConfig:
    """Where the Temporal Web UI is, for the operator console's links to each order's workflow."""
    settings = request.app.state.settings
    return WebConfig(
        temporal_ui_url=settings.temporal_ui_url.rstrip("/"), temporal_namespace=settings.temporal_namespace
    )
