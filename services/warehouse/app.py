"""The warehouse service: locations, bin stock, the wave backlog, waves and pick tasks."""

from __future__ import annotations

from fastapi import FastAPI

from common.service_app import create_service_app
from common.settings import ServiceSettings
from services.warehouse.api import router
from services.warehouse.settings import WarehouseSettings, get_settings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The app; plain ``ServiceSettings`` (tests) get the warehouse's own fields from the environment."""
    if settings is None:
        settings = get_settings()
    elif not isinstance(settings, WarehouseSettings):
        settings = WarehouseSettings(**settings.model_dump())
    return create_service_app(settings, title="PakLog warehouse", routers=[router])
