"""The audit service: the hash-chained record of every gateway call (docs/audit.md) and the exception log.

The exception log (``/exceptions``, docs/errors-and-tracing.md) is a plain table beside the chain, not part of it.
"""

from __future__ import annotations

from fastapi import FastAPI

from common.service_app import create_service_app
from common.settings import ServiceSettings
from services.audit.api import router
from services.audit.exceptions import router as exceptions_router
from services.audit.settings import AuditSettings, get_settings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """Build the app; a plain ``ServiceSettings`` is completed from ``PAKLOG_*`` (the writer's password).

    Only the values given to it explicitly are carried over, so the audit defaults (a body limit that
    holds a full batch) apply where it left them to its own.
    """
    if not isinstance(settings, AuditSettings):
        settings = AuditSettings(**settings.model_dump(exclude_unset=True)) if settings else get_settings()
    return create_service_app(settings, title="PakLog audit", routers=[router, exceptions_router])
