"""The carrier stand-in's app and its command (an outside system's stand-in, see the package docstring)."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from common.errors import install_error_handlers
from common.http import SERVER_KEEPALIVE_SECONDS
from common.logging import configure_logging
from common.middleware import BodyLimitMiddleware, RequestContextMiddleware
from common.service_auth import install_service_auth
from services.carriers.api import CarrierDesk, router
from services.carriers.settings import CarriersSettings, get_settings
from services.carriers.store import LabelStore


def create_app(settings: CarriersSettings | None = None) -> FastAPI:
    """The stand-in TMS; its labels live in ``<state_dir>/carriers.sqlite3``."""
    settings = settings or get_settings()
    app = FastAPI(title="Carrier stand-in (simulated TMS: SWIFT, PARCELNET)", version="0.1.0")
    app.state.settings = settings
    app.state.desk = CarrierDesk(LabelStore(settings.database_path))
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
    """``python -m services.carriers [--host H] [--port N] [--state-dir DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m services.carriers", description=__doc__)
    parser.add_argument("--host", default=None, help="listen address (default PAKLOG_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="listen port (default PAKLOG_CARRIERS_PORT or 8190)")
    parser.add_argument("--state-dir", type=Path, default=None, help="folder of the SQLite file (PAKLOG_STATE_DIR)")
    args = parser.parse_args(argv)
    base = get_settings()
    settings = base.model_copy(
        update={
            "host": args.host or base.host,
            "port": args.port or base.port,
            "state_dir": args.state_dir or base.state_dir,
        }
    )
    configure_logging(settings.log_format, settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=SERVER_KEEPALIVE_SECONDS,
    )
