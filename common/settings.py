"""Process settings, read from ``PAKLOG_*`` environment variables.

Each process builds exactly one settings object through its cached
``get_settings()`` at start-up, never at import time: every domain service in
``services/<name>/settings.py``, the gateway in ``gateway/settings.py``, the
worker and ``paklog dev`` in ``paklog/settings.py``. Every address and port can
be overridden with a ``PAKLOG_*`` variable; a process's listen port also reads
``PAKLOG_<PROCESS>_PORT`` (``PAKLOG_ORDERS_PORT``, ``PAKLOG_GATEWAY_PORT``), the
same names ``paklog dev`` reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Default ports of the domain services on 127.0.0.1 (``paklog service <name>``).
SERVICE_PORTS: dict[str, int] = {
    "identity": 8101,
    "orders": 8102,
    "inventory": 8103,
    "payments": 8104,
    "notifications": 8105,
    "warehouse": 8106,
    "shipping": 8107,
    "audit": 8108,
}
#: The carrier stand-in (``paklog carriers``): a simulated TMS with two carriers, an outside system.
CARRIERS_PORT = 8190
#: The ERP stand-in (``python -m services.erp``): a simulated SAP ERP, an outside system (docs/erp.md).
ERP_PORT = 8195
SERVICE_NAMES: tuple[str, ...] = tuple(SERVICE_PORTS)

DEV_JWT_SECRET = "paklog-dev-secret-change-me-in-production"
#: What a lone ``paklog service`` uses in development when no ``PAKLOG_SERVICE_TOKEN`` is given
#: (``paklog dev`` generates a real one); refused everywhere else.
DEV_SERVICE_TOKEN = "paklog-dev-service-token-change-me"
PLACEHOLDER_SECRETS = frozenset({DEV_JWT_SECRET, DEV_SERVICE_TOKEN, "", "changeme", "secret"})

Environment = Literal["development", "test", "production"]


def asyncpg_url(url: str) -> str:
    """Normalise a PostgreSQL URL to the SQLAlchemy asyncpg dialect.

    Args:
        url: ``postgres://``, ``postgresql://`` or ``postgresql+<driver>://`` URL.

    Returns:
        The same URL with the ``postgresql+asyncpg`` scheme.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.startswith("postgres"):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return f"postgresql+asyncpg://{rest}"


def database_url(server_url: str, database: str) -> str:
    """Replace (or add) the database path of a server URL."""
    base = asyncpg_url(server_url)
    scheme, _, rest = base.partition("://")
    authority, _, tail = rest.partition("/")
    _, _, query = tail.partition("?")
    return f"{scheme}://{authority}/{database}" + (f"?{query}" if query else "")


class PaklogSettings(BaseSettings):
    """What every PakLog process shares: environment, logging (and the exception log), state folder."""

    # populate_by_name: fields read under an alias (ports) still accept their own name in code.
    model_config = SettingsConfigDict(env_prefix="PAKLOG_", extra="ignore", populate_by_name=True)

    environment: Environment = "development"
    #: JSON lines (log shippers, every process the platform runs); ``console`` is for people.
    log_format: Literal["console", "json"] = "json"
    log_level: str = "INFO"
    state_dir: Path = Path(".paklog")
    #: The central exception log (the audit service's ``/exceptions``); unset, exceptions are only logged.
    exceptions_url: str | None = None


class TemporalSettings(PaklogSettings):
    """Connection to Temporal (dev server, self-hosted or Temporal Cloud)."""

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_api_key: str | None = None
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    task_queue: str = "paklog"


class ServiceCredential(PaklogSettings):
    """The per-deployment secret that opens the domain services' doors (``PAKLOG_SERVICE_TOKEN``).

    Services demand it on every call (see :mod:`common.service_auth`); the
    gateway and the worker send it. A placeholder is refused outside development.
    """

    service_token: SecretStr = SecretStr(DEV_SERVICE_TOKEN)

    @model_validator(mode="after")
    def _no_placeholder_service_token(self) -> ServiceCredential:
        reject_placeholder_secret(self.environment, "PAKLOG_SERVICE_TOKEN", self.service_token.get_secret_value())
        return self


class ServiceUrls(ServiceCredential):
    """Base URLs of the domain services, and the credential to call them, for the gateway and the worker."""

    identity_url: str = f"http://127.0.0.1:{SERVICE_PORTS['identity']}"
    orders_url: str = f"http://127.0.0.1:{SERVICE_PORTS['orders']}"
    inventory_url: str = f"http://127.0.0.1:{SERVICE_PORTS['inventory']}"
    payments_url: str = f"http://127.0.0.1:{SERVICE_PORTS['payments']}"
    notifications_url: str = f"http://127.0.0.1:{SERVICE_PORTS['notifications']}"
    warehouse_url: str = f"http://127.0.0.1:{SERVICE_PORTS['warehouse']}"
    shipping_url: str = f"http://127.0.0.1:{SERVICE_PORTS['shipping']}"
    audit_url: str = f"http://127.0.0.1:{SERVICE_PORTS['audit']}"
    http_timeout_seconds: float = 10.0


class ServiceSettings(ServiceCredential):
    """Settings of one domain service process.

    ``database_url`` wins when set; otherwise the service's database is
    ``paklog_<service>`` on the server at ``postgres_url``.
    """

    service: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    postgres_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5433"
    database_url: str | None = None
    db_pool_size: int = 10
    max_body_bytes: int = 256 * 1024

    def resolved_database_url(self) -> str:
        """The asyncpg URL of this service's own database."""
        if self.database_url:
            return asyncpg_url(self.database_url)
        return database_url(self.postgres_url, f"paklog_{self.service}")

    @model_validator(mode="after")
    def _default_port(self) -> ServiceSettings:
        if not self.port and self.service in SERVICE_PORTS:
            self.port = SERVICE_PORTS[self.service]
        return self


def port_field(process: str, default: int) -> Any:
    """A ``port`` field read from ``PAKLOG_<PROCESS>_PORT``, else ``PAKLOG_PORT``, else ``default``.

    Args:
        process: ``gateway`` or a service name.
        default: The port of DESIGN.md's process table.
    """
    return Field(default=default, validation_alias=AliasChoices(f"PAKLOG_{process.upper()}_PORT", "PAKLOG_PORT"))


def reject_placeholder_secret(environment: Environment, name: str, value: str) -> None:
    """Refuse to run anywhere but development with a placeholder secret.

    Tests run with ``environment="test"`` and a generated secret, so a
    placeholder that slips into a deployment fails at start-up there too.

    Raises:
        ValueError: ``environment`` is not development and ``value`` is a
            placeholder (one of :data:`PLACEHOLDER_SECRETS`, or anything with
            ``change-me`` in it, as the example env file has) or shorter than
            32 characters.
    """
    placeholder = value in PLACEHOLDER_SECRETS or "change-me" in value.lower() or len(value) < 32
    if environment != "development" and placeholder:
        raise ValueError(f"{name} must be set to a real secret (32+ characters) outside development")
