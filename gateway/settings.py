"""Gateway settings (``PAKLOG_*``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, model_validator

from common.settings import DEV_JWT_SECRET, ServiceUrls, TemporalSettings, port_field, reject_placeholder_secret


class GatewaySettings(TemporalSettings, ServiceUrls):
    """The gateway: where it listens, how it verifies tokens, what it talks to.

    Tokens are HS256 with ``jwt_secret`` (a placeholder is refused outside
    development); set ``jwt_jwks_url`` to verify RS256 tokens from a JWKS
    endpoint instead. The port is ``PAKLOG_GATEWAY_PORT`` (or ``PAKLOG_PORT``).
    """

    host: str = "127.0.0.1"
    port: int = port_field("gateway", 8000)
    jwt_secret: str = DEV_JWT_SECRET
    jwt_jwks_url: str | None = None
    max_body_bytes: int = 64 * 1024
    #: How long POST /api/orders/{id}/cancel waits for compensation before answering 202.
    cancel_wait_seconds: float = 10.0
    cors_origins: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:5173", "http://localhost:5173"])

    @model_validator(mode="after")
    def _no_placeholder_secret(self) -> GatewaySettings:
        if self.jwt_jwks_url is None:
            reject_placeholder_secret(self.environment, "PAKLOG_JWT_SECRET", self.jwt_secret)
        return self


@lru_cache
def get_settings() -> GatewaySettings:
    """The gateway process's settings, built once on first use."""
    return GatewaySettings()
