"""The payments service: authorizations, captures, voids and refunds against a simulated processor."""

from __future__ import annotations

from fastapi import FastAPI

from common.service_app import create_service_app
from common.settings import ServiceSettings
from services.payments.api import router
from services.payments.processor import CardProcessor
from services.payments.settings import PaymentsSettings, get_settings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    if settings is None:
        settings = get_settings()
    elif not isinstance(settings, PaymentsSettings):
        settings = PaymentsSettings(**settings.model_dump(exclude_unset=True))
    app = create_service_app(settings, title="PakLog payments", routers=[router])
    app.state.processor = CardProcessor(slow_seconds=settings.slow_card_seconds)
    return app
