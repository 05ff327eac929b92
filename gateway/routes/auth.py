"""``/api/auth``: password login (OAuth2 form) and who-am-I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm

from gateway.auth import PrincipalDep
from gateway.clients import ServiceClients
from gateway.models import MeView, TokenResponse

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/token", response_model=TokenResponse)
async def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> JSONResponse:
    """Exchange a username and password for a bearer token (identity issues it)."""
    clients: ServiceClients = request.app.state.clients
    resp = await clients.login(form.username, form.password)
    headers = {"WWW-Authenticate": "Bearer"} if resp.status_code == 401 else None
    return JSONResponse(resp.json(), status_code=resp.status_code, headers=headers)


@router.get("/me", response_model=MeView)
async def me(principal: PrincipalDep) -> MeView:
    return MeView(
        username=principal.username,
        user_id=principal.user_id,
        role=principal.role,
        email=principal.email,
        name=principal.name,
    )
