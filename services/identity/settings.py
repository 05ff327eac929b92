"""Identity settings: how tokens are signed and how long they live."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator

from common.settings import DEV_JWT_SECRET, SERVICE_PORTS, ServiceSettings, port_field, reject_placeholder_secret


class IdentitySettings(ServiceSettings):
    """The identity process (``PAKLOG_*``; its port also ``PAKLOG_IDENTITY_PORT``).

    Tokens are HS256 with ``jwt_secret`` unless ``jwt_private_key_file`` names
    an RSA private key (PEM); then they are RS256 and the public key is served
    at ``/.well-known/jwks.json`` under ``jwt_key_id``.

    A person's access token lives ``access_token_seconds`` (short: the session
    check makes a logout immediate anyway, but a stolen token should not last);
    its refresh token ``refresh_token_seconds`` from its issue (every refresh
    issues a new one). A partner client's token lives ``token_ttl_seconds``. A
    password-reset token is good once, for ``password_reset_seconds``.
    """

    service: str = "identity"
    port: int = port_field("identity", SERVICE_PORTS["identity"])
    jwt_secret: str = DEV_JWT_SECRET
    jwt_private_key_file: Path | None = None
    jwt_key_id: str = "paklog-1"
    token_ttl_seconds: int = Field(default=3600, ge=60, le=86_400)
    access_token_seconds: int = Field(default=900, ge=60, le=86_400)
    refresh_token_seconds: int = Field(default=30 * 86_400, ge=300, le=365 * 86_400)
    password_reset_seconds: int = Field(default=1800, ge=60, le=86_400)

    @model_validator(mode="after")
    def _no_placeholder_secret(self) -> IdentitySettings:
        if self.jwt_private_key_file is None:
            reject_placeholder_secret(self.environment, "PAKLOG_JWT_SECRET", self.jwt_secret)
        return self


@lru_cache
def get_settings() -> IdentitySettings:
    """This process's settings, built once on first use."""
    return IdentitySettings()
