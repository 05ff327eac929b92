"""``/api/auth``: password login (OAuth2 form) and who-am-I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from gateway.auth import PrincipalDep
from gateway.clients import ServiceClients
from gateway.errors import error_responses
from gateway.models import MeView, TokenResponse

router = APIRouter(prefix="/api/auth", tags=["auth"], responses=error_responses(401))


@router.post("/token", response_model=TokenResponse, responses=error_responses(400, 413, 422, 502, 503))
async def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenResponse:
    """Exchange a username and password for a bearer token (identity issues it)."""
    clients: ServiceClients = request.app.state.clients
    return await clients.login(form.username, form.password)


@router.get("/me", response_model=MeView)
async def me(principal: PrincipalDep) -> MeView:
    return MeView(
        username=principal.username,
        user_id=principal.user_id,
        role=principal.role,
        email=principal.email,
        name=principal.name,
    )
