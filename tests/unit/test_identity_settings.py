from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from common.security import PARTNER_ROLE, PERSON_ROLES, ROLES
from common.settings import DEV_JWT_SECRET, PLACEHOLDER_SECRETS, Environment, ServiceSettings
from services.identity.app import create_app
from services.identity.models import Role
from services.identity.settings import IdentitySettings


def test_roles_match_the_token_roles() -> None:
    assert tuple(Role) == PERSON_ROLES
    # A partner system's client holds the one role no user can have.
    assert ROLES == (*PERSON_ROLES, PARTNER_ROLE)


@pytest.mark.parametrize("environment", ["production", "test"])
def test_outside_development_the_placeholder_secret_is_refused(
    monkeypatch: pytest.MonkeyPatch, environment: Environment
) -> None:
    monkeypatch.delenv("PAKLOG_JWT_SECRET", raising=False)
    with pytest.raises(ValidationError, match="PAKLOG_JWT_SECRET"):
        IdentitySettings(environment=environment)
    with pytest.raises(ValidationError, match="PAKLOG_JWT_SECRET"):
        IdentitySettings(environment=environment, jwt_secret="too-short")
    assert IdentitySettings(environment=environment, jwt_secret="s" * 40).jwt_secret == "s" * 40
    # RS256 needs no shared secret at all.
    assert IdentitySettings(environment=environment, jwt_private_key_file=Path("key.pem")).jwt_secret == DEV_JWT_SECRET
    assert IdentitySettings(environment="development").jwt_secret == DEV_JWT_SECRET


def test_the_suite_signs_with_a_generated_secret() -> None:
    assert IdentitySettings(environment="test").jwt_secret not in PLACEHOLDER_SECRETS


def test_create_app_completes_plain_service_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAKLOG_TOKEN_TTL_SECONDS", "600")
    app = create_app(
        ServiceSettings(service="identity", database_url="postgresql://x@127.0.0.1/db", environment="test")
    )
    settings = app.state.settings
    assert isinstance(settings, IdentitySettings)
    assert settings.database_url == "postgresql://x@127.0.0.1/db"
    assert app.state.issuer.ttl_seconds == 600
    assert app.state.issuer.algorithm == "HS256"
