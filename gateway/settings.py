"""Gateway settings (``PAKLOG_*``)."""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache
from pathlib import Path

from limits import parse
from pydantic import Field, SecretStr, field_validator, model_validator

from common.settings import (
    DEV_JWT_SECRET,
    ServiceUrls,
    TemporalSettings,
    asyncpg_url,
    database_url,
    port_field,
    reject_placeholder_secret,
)
from gateway.ratelimit import parse_limit

#: The gateway's own database: the audit outbox (docs/audit.md).
GATEWAY_DATABASE = "paklog_gateway"
#: An exact origin: scheme, host, optional port; no path, no wildcard.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
#: What a derived digest key is bound to, so it never equals an HMAC the token signs for anything else.
_DIGEST_KEY_DERIVATION = b"audit-digest-key"


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
    #: Live order events (``GET /api/orders/{id}/events``): a comment after this much silence keeps
    #: proxies from closing the stream; at most this many streams open per principal (429 past it).
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    streams_per_principal: int = Field(default=5, ge=1, le=100)
    #: The operator stream (``GET /api/orders/events``): how long each long-poll of the orders service's
    #: history waits, and how many changes a stream may fall behind before it is closed (it resumes).
    history_wait_seconds: float = Field(default=25.0, gt=0, le=30)
    operator_stream_backlog: int = Field(default=1000, ge=1, le=100_000)
    #: Origins whose pages may call the API from a browser (``PAKLOG_CORS_ORIGINS``, a JSON list): exact
    #: origins only, never ``*``. The default is Vite's dev server of ``make web-dev``; the web app the
    #: gateway serves itself is same-origin and needs none.
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
    #: Calls per principal (or client address, without a valid token) per route (:mod:`gateway.ratelimit`),
    #: in the ``limits`` notation; ``0`` or empty switches one off. Writes: POST, PUT, PATCH, DELETE.
    rate_limit_writes: str = "120/minute"
    rate_limit_reads: str = "600/minute"
    #: Every route under ``/api/webhooks/`` (carriers, the ERP): machine-rate event streams.
    rate_limit_webhooks: str = "6000/minute"
    #: ``Strict-Transport-Security: max-age=<this>`` on every answer when the gateway is served over TLS;
    #: 0 (the default) sends none (a browser would refuse plain HTTP to this host for that long).
    hsts_seconds: int = Field(default=0, ge=0, le=2 * 365 * 86_400)
    #: The server of the gateway's database ``paklog_gateway`` (its audit outbox), as for the services;
    #: ``PAKLOG_GATEWAY_DATABASE_URL`` names the database itself instead.
    postgres_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5433"
    gateway_database_url: str | None = None
    #: Audit records wait in memory at most this long before they are written to the outbox together.
    audit_flush_seconds: float = Field(default=0.1, gt=0, le=1)
    #: Records per outbox write and per append sent to the audit service.
    audit_batch_size: int = Field(default=500, ge=1, le=1000)
    #: Records held in memory while the outbox database is unreachable; beyond it new ones are dropped (logged).
    audit_memory_limit: int = Field(default=10_000, ge=1)
    #: The longest wait between two attempts while the outbox database or the audit service is down.
    audit_retry_max_seconds: float = Field(default=5.0, gt=0)
    #: Key of the body digests (HMAC-SHA256; ``PAKLOG_AUDIT_DIGEST_KEY``), else derived from the service token.
    audit_digest_key: SecretStr | None = None
    #: Refuse a person's token that names no session (``sid``): such a token, issued before sessions
    #: existed, cannot be revoked. Unset: on in production, off elsewhere (tests sign tokens of their own).
    require_session_claim: bool | None = None
    #: The built web app (``web/dist`` of the checkout unless set) and the Temporal Web UI its console links to.
    web_dist: Path | None = None
    temporal_ui_url: str = "http://127.0.0.1:8233"

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

    @field_validator("rate_limit_writes", "rate_limit_reads", "rate_limit_webhooks")
    @classmethod
    def _route_limit(cls, value: str) -> str:
        parse_limit(value)  # ValueError for anything but "<count>/<unit>", "0" or ""
        return value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, origins: list[str]) -> list[str]:
        # A wildcard would let any page read API answers with its visitors' bearer tokens it holds.
        for origin in origins:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"CORS origins are exact origins (scheme://host[:port], no path, no wildcard): {origin!r}"
                )
        return origins

    def resolved_database_url(self) -> str:
        """The asyncpg URL of the gateway's own database."""
        if self.gateway_database_url:
            return asyncpg_url(self.gateway_database_url)
        return database_url(self.postgres_url, GATEWAY_DATABASE)

    def resolved_digest_key(self) -> bytes:
        """The key of the audit trail's body digests: configured, else derived from the service token."""
        if self.audit_digest_key is not None and self.audit_digest_key.get_secret_value():
            return self.audit_digest_key.get_secret_value().encode("utf-8")
        token = self.service_token.get_secret_value().encode("utf-8")
        return hmac.new(token, _DIGEST_KEY_DERIVATION, hashlib.sha256).digest()

    @model_validator(mode="after")
    def _no_placeholder_secret(self) -> GatewaySettings:
        if self.jwt_jwks_url is None:
            reject_placeholder_secret(self.environment, "PAKLOG_JWT_SECRET", self.jwt_secret)
        if self.audit_digest_key is not None and self.audit_digest_key.get_secret_value():
            reject_placeholder_secret(
                self.environment, "PAKLOG_AUDIT_DIGEST_KEY", self.audit_digest_key.get_secret_value()
            )
        return self


@lru_cache
def get_settings() -> GatewaySettings:
    """The gateway process's settings, built once on first use."""
    return GatewaySettings()
