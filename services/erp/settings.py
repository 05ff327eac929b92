"""Settings of the ERP stand-in: where it listens, its database, where its events go, how much it seeds."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, field_validator, model_validator

from common.partners import ERP_CLIENT_ID, ErpClientCredential
from common.settings import (
    ERP_PORT,
    asyncpg_url,
    database_url,
    port_field,
    reject_placeholder_secret,
)
from common.webhooks import erp_secret
from services.carriers.settings import webhook_url

#: The stand-in's own database on the platform's PostgreSQL server.
DATABASE_NAME = "paklog_erp"


class ErpSettings(ErpClientCredential):
    """The ERP stand-in (``PAKLOG_*``; its own knobs are ``PAKLOG_ERP_*``).

    * ``port`` (``PAKLOG_ERP_PORT``, default 8195).
    * ``erp_database_url`` (``PAKLOG_ERP_DATABASE_URL``): its database, created when missing; by default
      ``paklog_erp`` on the server at ``postgres_url`` (``PAKLOG_POSTGRES_URL``).
    * ``erp_webhook_url`` (``PAKLOG_ERP_WEBHOOK_URL``): where its signed events are posted; unset, they
      stay ``pending`` in the outbox.
    * ``erp_webhook_secret`` (``PAKLOG_ERP_WEBHOOK_SECRET``): their signing secret; unset, one derived from
      the service token (:func:`common.webhooks.erp_secret`).
    * ``erp_token_url`` (``PAKLOG_ERP_TOKEN_URL``): PakLog's token endpoint (the gateway's ``/api/auth/token``);
      set, every event carries a bearer token of the ERP's OAuth2 client ``erp_client_id``
      (``PAKLOG_ERP_CLIENT_ID``, default ``erp``) with its secret ``erp_client_secret``
      (``PAKLOG_ERP_CLIENT_SECRET``; unset, derived from the service token:
      :func:`common.partners.erp_client_secret`, as identity's seed derives it).
    * ``erp_seed_materials``, ``erp_seed_customers`` (``PAKLOG_ERP_SEED_MATERIALS``, ``..._CUSTOMERS``): the
      generated master data of the first start, beside PakLog's demo catalogue and users.

    Like every PakLog service it demands the deployment's service token (a real SAP would take OAuth2).
    """

    host: str = "127.0.0.1"
    port: int = port_field("erp", ERP_PORT)
    postgres_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5433"
    # The ERP_ prefix is in the field names, so no other process's PAKLOG_DATABASE_URL etc. is ever read.
    erp_database_url: str | None = None
    erp_webhook_url: str | None = None
    erp_webhook_secret: SecretStr | None = None
    erp_token_url: str | None = None
    erp_client_id: str = Field(default=ERP_CLIENT_ID, min_length=1, max_length=64)
    #: MAT-00001 ... MAT-<n>: five digits.
    erp_seed_materials: int = Field(default=5000, ge=0, le=99_999)
    #: Customer numbers 0000100001 on, below the one-time customer 0000999999.
    erp_seed_customers: int = Field(default=1000, ge=0, le=800_000)
    db_pool_size: int = Field(default=10, ge=1, le=100)
    max_body_bytes: int = 256 * 1024
    #: Per webhook call (connecting gets at most 5 s of it).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=300)

    @field_validator("erp_webhook_url", "erp_token_url", mode="before")
    @classmethod
    def _webhook_url(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return webhook_url(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _real_webhook_secret(self) -> ErpSettings:
        secret = self.erp_webhook_secret.get_secret_value() if self.erp_webhook_secret is not None else ""
        if secret:
            reject_placeholder_secret(self.environment, "PAKLOG_ERP_WEBHOOK_SECRET", secret)
        return self

    def resolved_database_url(self) -> str:
        """The asyncpg URL of the stand-in's database."""
        if self.erp_database_url:
            return asyncpg_url(self.erp_database_url)
        return database_url(self.postgres_url, DATABASE_NAME)

    def signing_secret(self) -> str:
        """The secret its events are signed with: configured, else derived from the service token."""
        configured = self.erp_webhook_secret.get_secret_value() if self.erp_webhook_secret is not None else None
        return erp_secret(self.service_token.get_secret_value(), configured)


@lru_cache
def get_settings() -> ErpSettings:
    """This process's settings, built once on first use."""
    return ErpSettings()
