"""The carrier stand-in's app and its command (an outside system's stand-in, see the package docstring)."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from common.errors import install_error_handlers
from common.http import SERVER_KEEPALIVE_SECONDS, create_http_client
from common.logging import configure_process_logging
from common.middleware import BodyLimitMiddleware, RequestContextMiddleware
from common.service_auth import install_service_auth
from services.carriers.api import CarrierDesk, router
from services.carriers.courier import Courier
from services.carriers.outbox import TrackingStore
from services.carriers.settings import CarriersSettings, get_settings, webhook_url
from services.carriers.store import LabelStore


def create_app(settings: CarriersSettings | None = None) -> FastAPI:
    """The stand-in TMS; its labels, journeys and outbox live in ``<state_dir>/carriers.sqlite3``.

    While the app runs (its lifespan), a :class:`~services.carriers.courier.Courier` takes the
    journeys' steps and posts their events; it stops with the app, and pending work resumes
    when an app starts on the same file again.
    """
    settings = settings or get_settings()
    desk = CarrierDesk(
        LabelStore(settings.database_path),
        TrackingStore(settings.database_path),
        webhook_url=settings.carrier_webhook_url,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = create_http_client(settings.webhook_timeout_seconds, max_connections=settings.webhook_concurrency)
        courier = Courier(
            desk.tracking,
            desk.knobs,
            settings.carrier_webhook_url,
            settings.webhook_secrets(),
            client,
            concurrency=settings.webhook_concurrency,
        )
        await courier.start()
        desk.courier = courier
        try:
            yield
        finally:
            desk.courier = None
            await courier.stop()
            await client.aclose()

    app = FastAPI(title="Carrier stand-in (simulated TMS: SWIFT, PARCELNET)", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.desk = desk
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    install_service_auth(app, settings.service_token.get_secret_value())
    app.add_middleware(RequestContextMiddleware)
    app.include_router(router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m services.carriers [--host H] [--port N] [--state-dir DIR] [--webhook-url URL]``."""
    parser = argparse.ArgumentParser(prog="python -m services.carriers", description=__doc__)
    parser.add_argument("--host", default=None, help="listen address (default PAKLOG_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="listen port (default PAKLOG_CARRIERS_PORT or 8190)")
    parser.add_argument("--state-dir", type=Path, default=None, help="folder of the SQLite file (PAKLOG_STATE_DIR)")
    parser.add_argument(
        "--webhook-url",
        type=webhook_url,
        default=None,
        help="where delivery events go, + /<CARRIER> (default PAKLOG_CARRIER_WEBHOOK_URL; unset: they queue)",
    )
    args = parser.parse_args(argv)
    base = get_settings()
    settings = base.model_copy(
        update={
            "host": args.host or base.host,
            "port": args.port or base.port,
            "state_dir": args.state_dir or base.state_dir,
            "carrier_webhook_url": args.webhook_url or base.carrier_webhook_url,
        }
    )
    configure_process_logging(settings, "carriers")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=SERVER_KEEPALIVE_SECONDS,
    )
