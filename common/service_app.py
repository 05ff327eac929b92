"""The app factory every domain service builds on.

A service supplies its routers; this wires the lifespan (engine and
sessionmaker built at start-up, disposed at shutdown), the error handlers,
body limit, the service-credential lock (:mod:`common.service_auth`), request
ids and ``/healthz``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from common.db import create_engine, create_sessionmaker
from common.errors import install_error_handlers
from common.logging import get_logger
from common.middleware import BodyLimitMiddleware, RequestContextMiddleware, UnstorableInputMiddleware
from common.service_auth import install_service_auth
from common.settings import ServiceSettings

log = get_logger("paklog.service")


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    routers: Sequence[APIRouter],
    on_shutdown: Sequence[Callable[[FastAPI], Awaitable[None]]] = (),
) -> FastAPI:
    """Build a service's FastAPI app; nothing touches the database until start-up.

    Args:
        settings: This process's settings (``settings.service`` names the service).
        title: Shown in the OpenAPI document.
        routers: The service's routes.
        on_shutdown: Run at shutdown, before the engine is disposed (e.g. closing a LISTEN connection).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.resolved_database_url(), pool_size=settings.db_pool_size)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        try:
            yield
        finally:
            for hook in on_shutdown:
                await hook(app)
            await engine.dispose()

    app = FastAPI(title=title, version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(UnstorableInputMiddleware)  # inside the body limit, which bounds what it reads
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    install_service_auth(app, settings.service_token.get_secret_value())
    app.add_middleware(RequestContextMiddleware)
    for router in routers:
        app.include_router(router)

    @app.get("/healthz", tags=["health"])
    async def healthz(request: Request) -> JSONResponse:
        try:
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # any driver error means "not ready"
            # The driver's text names hosts, users and databases: it goes to the log, not to the caller.
            log.warning("health check failed", service=settings.service, error=repr(exc))
            return JSONResponse({"status": "unavailable"}, status_code=503)
        # Open to liveness probes without the service token, so it names nothing.
        return JSONResponse({"status": "ok"})

    return app
