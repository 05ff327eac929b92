"""``/api/auth``: password login (OAuth2 form), partner clients' client-credentials login, and who-am-I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from common.errors import ErrorBody, Unauthorized
from common.oauth import PasswordGrant, TokenGrant, token_grant
from gateway.auth import PrincipalDep
from gateway.clients import ServiceClients
from gateway.errors import error_responses
from gateway.models import MeView, TokenResponse
from gateway.throttle import login_throttle

router = APIRouter(prefix="/api/auth", tags=["auth"], responses=error_responses(401))

RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorBody,
        "description": "Too many failed logins for this username, or attempts from this address (`RateLimited`)",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 1}}},
    }
}


@router.post(
    "/token", response_model=TokenResponse, responses={**error_responses(400, 413, 422, 502, 503), **RATE_LIMITED}
)
async def token(request: Request, grant: Annotated[TokenGrant, Depends(token_grant)]) -> TokenResponse:
    """Exchange a username and password for a bearer token, or a partner client's credentials for its token.

    ``grant_type=client_credentials`` (a partner system such as the ERP) takes
    ``client_id`` and ``client_secret`` as form fields or HTTP Basic; its token
    has the role ``partner`` and the client's ``scope``, opens only that
    partner's webhook, and comes without a refresh token. A wrong secret or an
    unknown client is 401 ``InvalidClient``. Identity issues both kinds.

    Throttled before identity's hashing runs: failed logins per username (per
    client id for clients) and attempts per client address (429
    ``RateLimited`` with ``Retry-After``).
    """
    throttle = login_throttle(request)
    # Clients are counted apart from usernames: a client named like a user cannot lock that user out.
    who = grant.username if isinstance(grant, PasswordGrant) else f"client:{grant.client_id}"
    await throttle.admit(who, request.client.host if request.client else "unknown")
    clients: ServiceClients = request.app.state.clients
    try:
        if isinstance(grant, PasswordGrant):
            return await clients.login(grant.username, grant.password)
        return await clients.client_token(grant.client_id, grant.client_secret)
    except Unauthorized:
        await throttle.failed(who)
        raise


@router.get("/me", response_model=MeView)
async def me(principal: PrincipalDep) -> MeView:
    return MeView(
        username=principal.username,
        user_id=principal.user_id,
        role=principal.role,
        email=principal.email,
        name=principal.name,
    )
