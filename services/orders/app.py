"""The orders service: orders, their lines, status machine and history."""

from __future__ import annotations

from fastapi import FastAPI

from common.service_app import create_service_app
from common.settings import ServiceSettings
from services.orders.api import close_history_bell, erp_router, history_router, router
from services.orders.settings import get_settings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or get_settings(),
        title="PakLog orders",
        routers=[router, erp_router, history_router],
        on_shutdown=[close_history_bell],
    )
