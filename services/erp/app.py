"""The ERP stand-in's app and its command (an outside system's stand-in, see the package docstring)."""

from __future__ import annotations

import argparse
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from common.db import create_engine, ensure_database
from common.errors import install_error_handlers
from common.http import SERVER_KEEPALIVE_SECONDS, create_http_client
from common.logging import configure_process_logging, get_logger
from common.middleware import BodyLimitMiddleware, RequestContextMiddleware, UnstorableInputMiddleware
from common.service_auth import install_service_auth
from services.carriers.settings import webhook_url
from services.erp.api import ErpDesk, control, odata
from services.erp.login import ClientToken
from services.erp.seed import prepare
from services.erp.sender import Sender
from services.erp.settings import ErpSettings, get_settings
from services.erp.store import ErpStore

log = get_logger("paklog.erp")


async def create_database(url: str) -> None:
    """Create the database ``url`` names on its server unless it exists (two starts at once: one creates it)."""
    name = make_url(url).database
    if not name:
        raise ValueError("the ERP's database URL names no database")
    try:
        if await ensure_database(url, name):
            log.info("erp database created", database=name)
    except asyncpg.DuplicateDatabaseError:
        pass


def create_app(settings: ErpSettings | None = None) -> FastAPI:
    """The simulated SAP ERP; its data and outbox live in its own PostgreSQL database.

    Its lifespan creates the database when missing, the tables, and on the first start the
    master data (``seed.py``); then, with a webhook URL, a :class:`~services.erp.sender.Sender`
    posts the outbox until the app stops (with a token URL, logged in as the ERP's OAuth2 client).
    Pending events resume at the next start.
    """
    settings = settings or get_settings()
    desk = ErpDesk(webhook_url=settings.erp_webhook_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.resolved_database_url()
        await create_database(url)
        engine = create_engine(url, pool_size=settings.db_pool_size)
        client = create_http_client(settings.webhook_timeout_seconds, max_connections=2)
        try:
            started = time.perf_counter()
            seeded = await prepare(
                engine,
                generated_materials=settings.erp_seed_materials,
                generated_customers=settings.erp_seed_customers,
            )
            if seeded:
                log.info("erp seeded", rows=seeded, seconds=round(time.perf_counter() - started, 3))
            desk.store = ErpStore(engine, changed=desk.nudge)
            if settings.erp_webhook_url:
                token = (
                    ClientToken(
                        client,
                        settings.erp_token_url,
                        settings.erp_client_id,
                        settings.resolved_erp_client_secret(),
                    )
                    if settings.erp_token_url
                    else None
                )
                desk.sender = Sender(
                    desk.store,
                    lambda: desk.knobs,
                    settings.erp_webhook_url,
                    settings.signing_secret(),
                    client,
                    token=token,
                )
                await desk.sender.start()
            yield
        finally:
            if desk.sender is not None:
                await desk.sender.stop()
                desk.sender = None
            desk.store = None
            await client.aclose()
            await engine.dispose()

    app = FastAPI(title="ERP stand-in (simulated SAP)", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.desk = desk
    install_error_handlers(app)
    app.add_middleware(UnstorableInputMiddleware)  # inside the body limit, which bounds what it reads
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    install_service_auth(app, settings.service_token.get_secret_value())
    app.add_middleware(RequestContextMiddleware)
    app.include_router(odata)
    app.include_router(control)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m services.erp [--host H] [--port N] [--database-url URL] [--webhook-url URL] [--token-url URL]
    [--client-id ID] [--client-secret SECRET]``."""
    parser = argparse.ArgumentParser(prog="python -m services.erp", description=__doc__)
    parser.add_argument("--host", default=None, help="listen address (default PAKLOG_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="listen port (default PAKLOG_ERP_PORT or 8195)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="its PostgreSQL database, created when missing (default PAKLOG_ERP_DATABASE_URL, else paklog_erp"
        " on PAKLOG_POSTGRES_URL)",
    )
    parser.add_argument(
        "--webhook-url",
        type=webhook_url,
        default=None,
        help="where its events go (default PAKLOG_ERP_WEBHOOK_URL; unset: they stay pending)",
    )
    parser.add_argument(
        "--token-url",
        type=webhook_url,
        default=None,
        help="PakLog's token endpoint, for the ERP's bearer token (default PAKLOG_ERP_TOKEN_URL; unset: none sent)",
    )
    parser.add_argument("--client-id", default=None, help="its OAuth2 client id (default PAKLOG_ERP_CLIENT_ID or erp)")
    parser.add_argument(
        "--client-secret",
        default=None,
        help="its OAuth2 client secret (default PAKLOG_ERP_CLIENT_SECRET, else derived from the service token;"
        " prefer the variable: a command line is visible to every user of the host)",
    )
    args = parser.parse_args(argv)
    base = get_settings()
    settings = base.model_copy(
        update={
            "host": args.host or base.host,
            "port": args.port or base.port,
            "erp_database_url": args.database_url or base.erp_database_url,
            "erp_webhook_url": args.webhook_url or base.erp_webhook_url,
            "erp_token_url": args.token_url or base.erp_token_url,
            "erp_client_id": args.client_id or base.erp_client_id,
            "erp_client_secret": SecretStr(args.client_secret) if args.client_secret else base.erp_client_secret,
        }
    )
    configure_process_logging(settings, "erp")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=SERVER_KEEPALIVE_SECONDS,
    )
