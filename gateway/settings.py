"""Gateway settings (``PAKLOG_*``)."""

from __future__ import annotations

from functools import lru_cache

from limits import parse
from pydantic import Field, SecretStr, field_validator, model_validator

from common.settings import DEV_JWT_SECRET, ServiceUrls, TemporalSettings, port_field, reject_placeholder_secret


class GatewaySettings(TemporalSettings, ServiceUrls):
    """The gateway: where it listens, how it verifies tokens, what it talks to.

    Tokens are HS256 with ``jwt_secret`` (a placeholder is refused outside
    development); set ``jwt_jwks_url`` to verify RS256 tokens from a JWKS
    endpoint instead. The port is ``PAKLOG_GATEWAY_PORT`` (or ``PAKLOG_PORT``).
    Logins are throttled (:mod:`gateway.throttle`): ``login_failures_per_username``
    failed logins per username and ``login_attempts_per_address`` attempts per
    client address, in the ``limits`` notation (``10/minute``, ``100/hour``).
    """

    host: str = "127.0.0.1"
    port: int = port_field("gateway", 8000)
    jwt_secret: str = DEV_JWT_SECRET
    jwt_jwks_url: str | None = None
    max_body_bytes: int = 64 * 1024
    #: How long POST /api/orders/{id}/cancel waits for compensation before answering 202.
    cancel_wait_seconds: float = 10.0
    #: How long the warehouse routes (plan, release, pick, pack, address change) wait for their
    #: workflow update before answering 202 (accepted; it goes on).
    update_wait_seconds: float = 15.0
    cors_origins: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:5173", "http://localhost:5173"])
    #: Carriers whose webhooks are accepted, and their HMAC secrets (``PAKLOG_CARRIER_SECRETS``, JSON);
    #: a carrier without one uses the secret derived from the service token (:mod:`common.webhooks`).
    carriers: list[str] = Field(default_factory=lambda: ["SWIFT", "PARCELNET"])
    carrier_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    #: A delivery ``EXCEPTION`` without progress for this long cancels the shipped order ``DELIVERY_FAILED``
    #: (two days; ``make dev`` uses 60 s so a demo sees it).
    delivery_grace_seconds: int = Field(default=172_800, ge=1, le=90 * 86_400)
    #: The ERP (``PAKLOG_ERP_URL``): ``GET /api/erp/sync`` reads its newest changes for the import's lag.
    erp_url: str = "http://127.0.0.1:8195"
    #: The secret the ERP signs its events with (``PAKLOG_ERP_WEBHOOK_SECRET``); unset, the one derived from
    #: the service token (:func:`common.webhooks.erp_secret`), as the ERP derives it.
    erp_webhook_secret: SecretStr | None = None
    login_failures_per_username: str = "10/minute"
    login_attempts_per_address: str = "60/minute"
    #: Refuse a person's token that names no session (``sid``): such a token, issued before sessions
    #: existed, cannot be revoked. Unset: on in production, off elsewhere (tests sign tokens of their own).
    require_session_claim: bool | None = None

    def sessions_required(self) -> bool:
        """Whether a person's token must name its session (:attr:`require_session_claim`)."""
        if self.require_session_claim is not None:
            return self.require_session_claim
        return self.environment == "production"

    @field_validator("login_failures_per_username", "login_attempts_per_address")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        parse(value)  # ValueError for anything but "<count>/<unit>"
        return value

    @model_validator(mode="after")
    def _no_placeholder_secret(self) -> GatewaySettings:
        if self.jwt_jwks_url is None:
            reject_placeholder_secret(self.environment, "PAKLOG_JWT_SECRET", self.jwt_secret)
        return self


@lru_cache
def get_settings() -> GatewaySettings:
    """The gateway process's settings, built once on first use."""
    return GatewaySettings()
