"""The notifications service: templated e-mail and push messages, and their record."""

from __future__ import annotations

from fastapi import FastAPI

from common.service_app import create_service_app
from common.settings import ServiceSettings
from services.notifications.api import router
from services.notifications.senders import build_senders
from services.notifications.settings import NotificationsSettings, get_settings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """Build the app; a plain ``ServiceSettings`` is completed from ``PAKLOG_*`` (SMTP settings)."""
    if not isinstance(settings, NotificationsSettings):
        settings = NotificationsSettings(**settings.model_dump()) if settings else get_settings()
    app = create_service_app(settings, title="PakLog notifications", routers=[router])
    app.state.senders = build_senders(settings)
    return app
