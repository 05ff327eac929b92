"""Audit settings: the service connects at runtime as a role that may only insert and read.

The audit database is owned by the migrating role (``PAKLOG_POSTGRES_URL``'s
user, which runs ``paklog migrate``); its migration grants the runtime role
:data:`WRITER_ROLE` ``SELECT`` and ``INSERT`` on ``audit_records`` and nothing
else, and :func:`services.audit.roles.provision_writer` gives that role its
login password. The service then connects as the writer, so no code path of
the service can ``UPDATE``, ``DELETE`` or ``TRUNCATE`` a record (docs/audit.md).
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from urllib.parse import quote

from pydantic import SecretStr, model_validator

from common.settings import (
    SERVICE_PORTS,
    ServiceCredential,
    ServiceSettings,
    asyncpg_url,
    port_field,
    reject_placeholder_secret,
)

#: The runtime role of the audit service (a PostgreSQL role is cluster-wide; the migration creates it NOLOGIN).
WRITER_ROLE = "paklog_audit_writer"
#: What a derived writer password is bound to, so it never equals an HMAC the token signs for anything else.
_DERIVATION = b"db-password:paklog_audit_writer"


def writer_password(service_token: str, configured: str | None) -> str:
    """The writer role's password: ``configured`` when given, else derived from the service token.

    Args:
        service_token: The deployment's ``PAKLOG_SERVICE_TOKEN``.
        configured: ``PAKLOG_AUDIT_WRITER_PASSWORD``, or None.
    """
    if configured:
        return configured
    return hmac.new(service_token.encode("utf-8"), _DERIVATION, hashlib.sha256).hexdigest()


def as_role(url: str, role: str, password: str) -> str:
    """``url`` (any PostgreSQL URL) with its credentials replaced by ``role`` and ``password``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a URL: {url!r}")
    _, _, host_and_path = rest.rpartition("@")
    return f"{scheme}://{quote(role, safe='')}:{quote(password, safe='')}@{host_and_path}"


class AuditWriterCredential(ServiceCredential):
    """The writer role's password as a process knows it (``PAKLOG_AUDIT_WRITER_PASSWORD``, else derived).

    Read on both sides: whoever provisions the role (``paklog migrate``, ``paklog dev``) and the service.
    """

    audit_writer_password: SecretStr | None = None

    @model_validator(mode="after")
    def _real_password(self) -> AuditWriterCredential:
        configured = self.audit_writer_password.get_secret_value() if self.audit_writer_password else ""
        if configured:
            reject_placeholder_secret(self.environment, "PAKLOG_AUDIT_WRITER_PASSWORD", configured)
        return self

    def resolved_writer_password(self) -> str:
        configured = self.audit_writer_password.get_secret_value() if self.audit_writer_password else None
        return writer_password(self.service_token.get_secret_value(), configured)


class AuditSettings(ServiceSettings, AuditWriterCredential):
    """The audit process (``PAKLOG_*``; its port also ``PAKLOG_AUDIT_PORT``).

    ``PAKLOG_AUDIT_DATABASE_URL`` wins when set (it names the runtime role
    itself); otherwise the service connects to ``paklog_audit`` on
    ``postgres_url``'s server as :data:`WRITER_ROLE`.
    """

    service: str = "audit"
    port: int = port_field("audit", SERVICE_PORTS["audit"])
    audit_database_url: str | None = None
    #: A full batch (1000 records of up to a few KB each) fits.
    max_body_bytes: int = 4 * 1024 * 1024

    def resolved_database_url(self) -> str:
        """The asyncpg URL the service runs on: the writer role's, never the owner's."""
        if self.audit_database_url:
            return asyncpg_url(self.audit_database_url)
        return as_role(super().resolved_database_url(), WRITER_ROLE, self.resolved_writer_password())


@lru_cache
def get_settings() -> AuditSettings:
    """This process's settings, built once on first use."""
    return AuditSettings()
