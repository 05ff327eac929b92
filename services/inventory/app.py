"""The inventory service: products, stock and reservations."""

from __future__ import annotations

from fastapi import FastAPI

from common.service_app import create_service_app
from common.settings import ServiceSettings
from services.inventory.api import router
from services.inventory.settings import get_settings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(settings or get_settings(), title="PakLog inventory", routers=[router])
