"""The BFF gateway: the only door for people and partner systems."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from temporalio.client import Client

from common.db import create_engine
from common.errors import install_error_handlers
from common.http import create_http_client
from common.logging import configure_process_logging
from common.middleware import BodyLimitMiddleware, RequestContextMiddleware, UnstorableInputMiddleware
from common.security import TokenVerifier
from gateway.audit.middleware import AuditMiddleware
from gateway.audit.trail import AuditTrail
from gateway.auth import verified_principal
from gateway.clients import ServiceClients
from gateway.errors import install_gateway_error_handlers
from gateway.headers import SecurityHeadersMiddleware
from gateway.live import StreamSlots
from gateway.models import Health
from gateway.openapi import install_openapi
from gateway.ratelimit import RouteLimits, anonymous_limit
from gateway.routes import (
    account,
    admin,
    audit,
    auth,
    erp,
    erp_events,
    operator_events,
    orders,
    products,
    shipments,
    tracking,
    warehouse,
)
from gateway.settings import GatewaySettings, get_settings
from gateway.temporal import connect_temporal
from gateway.web import WebAppMiddleware, config_router, web_dist

#: Every method the API has (``DELETE /api/tracking/{code}`` included); a browser's preflight must allow each.
CORS_METHODS = ["GET", "POST", "PUT", "DELETE"]


def create_app(settings: GatewaySettings | None = None, *, temporal: Client | None = None) -> FastAPI:
    """Build the gateway; the Temporal client and HTTP pool are made at start-up.

    Args:
        settings: Defaults to the process settings from the environment.
        temporal: An already connected client (tests); otherwise one is connected.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        http = create_http_client(settings.http_timeout_seconds)
        app.state.clients = ServiceClients(http, settings)
        app.state.verifier = (
            TokenVerifier(jwks_url=settings.jwt_jwks_url, algorithms=["RS256"])
            if settings.jwt_jwks_url
            else TokenVerifier(secret=settings.jwt_secret)
        )
        app.state.temporal = temporal or await connect_temporal(settings)
        # The outbox database is connected lazily: the gateway serves while it is down (records wait in memory).
        outbox = create_engine(settings.resolved_database_url(), pool_size=2)
        app.state.audit = AuditTrail(
            engine=outbox,
            http=http,
            audit_url=settings.audit_url,
            service_token=settings.service_token.get_secret_value(),
            digest_key=settings.resolved_digest_key(),
            flush_seconds=settings.audit_flush_seconds,
            batch_size=settings.audit_batch_size,
            memory_limit=settings.audit_memory_limit,
            retry_max_seconds=settings.audit_retry_max_seconds,
        )
        app.state.audit.start()
        try:
            yield
        finally:
            await app.state.audit.stop()
            await outbox.dispose()
            await http.aclose()

    app = FastAPI(
        title="PakLog gateway",
        version="0.1.0",
        description="Orders, products, auth and the warehouse floor for the web app, partners and operators.",
        lifespan=lifespan,
        # Routes that take no token are rate limited here; the others where the token is verified.
        dependencies=[Depends(anonymous_limit)],
    )
    app.state.settings = settings
    app.state.stream_slots = StreamSlots(settings.streams_per_principal)
    install_error_handlers(app)
    install_gateway_error_handlers(app)
    install_openapi(app)
    app.add_middleware(WebAppMiddleware, dist=web_dist(settings.web_dist))  # innermost: only paths /api never owns
    app.add_middleware(UnstorableInputMiddleware)  # inside the body limit, which bounds what it reads
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=CORS_METHODS,
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After"],
        allow_credentials=False,  # bearer tokens, never cookies
    )
    app.add_middleware(RequestContextMiddleware)
    # Outside the request context: its last-resort 500s carry the headers too.
    app.add_middleware(SecurityHeadersMiddleware, hsts_seconds=settings.hsts_seconds)
    # Outermost: it sees the final status and X-Request-ID of every call, 413s and 500s included.
    app.add_middleware(AuditMiddleware)
    app.include_router(auth.router)
    app.include_router(orders.events_router)
    app.include_router(operator_events.router)  # before orders.router: /api/orders/events is no order id
    app.include_router(account.auth_router)
    app.include_router(account.me_router)
    app.include_router(admin.router)
    app.include_router(orders.router)
    app.include_router(products.router)
    app.include_router(warehouse.waves_router)
    app.include_router(warehouse.tasks_router)
    app.include_router(warehouse.pack_router)
    app.include_router(shipments.shipments_router)
    app.include_router(shipments.carriers_router)
    app.include_router(tracking.webhooks_router)
    app.include_router(tracking.tracking_router)
    app.include_router(erp.router)
    app.include_router(erp_events.webhook_router)
    app.include_router(erp_events.dead_letters_router)
    app.include_router(audit.router)
    app.include_router(audit.exceptions_router)
    app.include_router(config_router)

    @app.get("/healthz", tags=["health"], response_model=Health)
    async def healthz() -> Health:
        return Health(status="ok", temporal_namespace=settings.temporal_namespace)

    app.state.route_limits = RouteLimits(
        writes=settings.rate_limit_writes,
        reads=settings.rate_limit_reads,
        webhooks=settings.rate_limit_webhooks,
        verifies_token=verified_principal,
    )

    return app


def create_app_from_env() -> FastAPI:
    """uvicorn factory for ``paklog gateway``."""
    settings = get_settings()
    configure_process_logging(settings, "gateway")
    return create_app(settings)
