"""The identity service: users, password logins and access tokens."""

from __future__ import annotations

from fastapi import FastAPI

from common.security import TokenIssuer, TokenVerifier
from common.service_app import create_service_app
from common.settings import ServiceSettings
from services.identity.account_api import router as account_router
from services.identity.accounts import TokenPolicy
from services.identity.api import router
from services.identity.settings import IdentitySettings, get_settings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """Build the app; a plain ``ServiceSettings`` is completed from ``PAKLOG_*`` (JWT settings)."""
    if not isinstance(settings, IdentitySettings):
        settings = IdentitySettings(**settings.model_dump()) if settings else get_settings()
    app = create_service_app(settings, title="PakLog identity", routers=[router, account_router])
    issuer = build_issuer(settings)
    app.state.issuer = issuer
    app.state.token_policy = TokenPolicy(
        access_seconds=settings.access_token_seconds,
        refresh_seconds=settings.refresh_token_seconds,
        reset_seconds=settings.password_reset_seconds,
    )
    app.state.verifier = (
        TokenVerifier(jwks=issuer.jwks()) if issuer.algorithm == "RS256" else TokenVerifier(secret=settings.jwt_secret)
    )
    return app


def build_issuer(settings: IdentitySettings) -> TokenIssuer:
    """RS256 with the configured private key, else HS256 with the shared secret."""
    if settings.jwt_private_key_file is not None:
        return TokenIssuer(
            private_key_pem=settings.jwt_private_key_file.read_text(),
            key_id=settings.jwt_key_id,
            ttl_seconds=settings.token_ttl_seconds,
        )
    return TokenIssuer(secret=settings.jwt_secret, ttl_seconds=settings.token_ttl_seconds)
