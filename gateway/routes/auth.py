"""``/api/auth``: password login (OAuth2 form) and who-am-I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from common.errors import ErrorBody, Unauthorized
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
async def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenResponse:
    """Exchange a username and password for a bearer token (identity issues it).

    Throttled before identity's password hashing runs: failed logins per
    username and attempts per client address (429 ``RateLimited`` with ``Retry-After``).
    """
    throttle = login_throttle(request)
    await throttle.admit(form.username, request.client.host if request.client else "unknown")
    clients: ServiceClients = request.app.state.clients
    try:
        return await clients.login(form.username, form.password)
    except Unauthorized:
        await throttle.failed(form.username)
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
