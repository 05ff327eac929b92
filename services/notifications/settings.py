"""Notifications settings: where e-mail goes."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr

from common.settings import SERVICE_PORTS, ServiceSettings, port_field


class NotificationsSettings(ServiceSettings):
    """The notifications process (``PAKLOG_*``; its port also ``PAKLOG_NOTIFICATIONS_PORT``).

    E-mail is only logged unless ``smtp_host`` is set; then it is submitted
    over SMTP (STARTTLS on port 587 by default; set ``smtp_starttls=false``
    for a local catcher such as Mailpit on port 1025).
    """

    service: str = "notifications"
    port: int = port_field("notifications", SERVICE_PORTS["notifications"])
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65_535)
    smtp_from: str = "PakLog <no-reply@paklog.local>"
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)


@lru_cache
def get_settings() -> NotificationsSettings:
    """This process's settings, built once on first use."""
    return NotificationsSettings()
