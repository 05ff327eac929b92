"""The shipping service: cartons, carrier rate shopping, labels (PDF) and the carriers' circuit breakers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from common.service_app import create_service_app
from common.settings import ServiceSettings
from services.shipping.api import routers
from services.shipping.settings import ShippingSettings, get_settings
from services.shipping.tms import CarrierGateway


def create_app(
    settings: ServiceSettings | None = None, *, carrier_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The shipping app.

    Args:
        settings: This process's settings (plain service settings are completed from ``PAKLOG_*``).
        carrier_transport: Replaces the network to the carriers' TMS (tests run the stand-in in process).
    """
    if settings is None:
        settings = get_settings()
    elif not isinstance(settings, ShippingSettings):
        settings = ShippingSettings(**settings.model_dump(exclude_unset=True))
    app = create_service_app(settings, title="PakLog shipping", routers=routers)
    gateway = CarrierGateway(settings, transport=carrier_transport)
    app.state.carriers = gateway
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        try:
            async with inner(app) as state:
                yield state
        finally:
            await gateway.aclose()

    app.router.lifespan_context = lifespan
    return app
