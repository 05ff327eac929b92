"""The identity doors for people: register, refresh, logout, password resets, and ``/api/me``.

Every door that costs argon2 time or sends a message counts against the
per-address login limit (:mod:`gateway.throttle`); a wrong current password of
a password change counts as a failed login of that username.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from temporalio.client import Client

from common.errors import ErrorBody, Forbidden, RuleViolation
from common.security import Principal
from gateway.account_models import (
    Accepted,
    PasswordChangeRequest,
    ProfileUpdateRequest,
    ProfileView,
    RefreshRequest,
    RegisterRequest,
    ResetConfirmRequest,
    ResetRequest,
)
from gateway.accounts import IdentityAccounts
from gateway.auth import PrincipalDep
from gateway.errors import error_responses
from gateway.models import TokenResponse
from gateway.notices import send_reset, send_welcome
from gateway.routes.auth import RATE_LIMITED
from gateway.throttle import login_throttle

auth_router = APIRouter(prefix="/api/auth", tags=["auth"])
me_router = APIRouter(prefix="/api/me", tags=["me"], responses=error_responses(401, 502, 503))


async def _accounts(request: Request) -> IdentityAccounts:
    return IdentityAccounts(request.app.state.clients)


AccountsDep = Annotated[IdentityAccounts, Depends(_accounts)]


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _temporal(request: Request) -> tuple[Client, str]:
    return request.app.state.temporal, request.app.state.settings.task_queue


@auth_router.post(
    "/register",
    status_code=201,
    response_model=ProfileView,
    responses={**error_responses(400, 409, 413, 422, 502, 503), **RATE_LIMITED},
)
async def register(request: Request, body: RegisterRequest, accounts: AccountsDep) -> ProfileView:
    """Sign up as a customer; a welcome message follows (the ``AccountNotice`` workflow).

    409 ``UsernameTaken`` or ``EmailTaken`` (e-mail addresses are unique, ignoring
    case); 422 for a malformed field or a weak password.
    """
    await login_throttle(request).admit_address(_address(request))
    user = await accounts.register(body.model_dump(exclude_none=True))
    await send_welcome(*_temporal(request), user)
    return user.view()


@auth_router.post(
    "/refresh",
    response_model=TokenResponse,
    responses={**error_responses(400, 401, 413, 422, 502, 503), **RATE_LIMITED},
)
async def refresh(request: Request, body: RefreshRequest, accounts: AccountsDep) -> TokenResponse:
    """A new access token and refresh token for a refresh token, which is then spent.

    401: ``InvalidRefreshToken``, ``RefreshTokenExpired``, ``SessionRevoked``, or
    ``RefreshTokenReused``: the token was spent already, so its whole session
    (every refresh and access token of that login) is revoked.
    """
    await login_throttle(request).admit_address(_address(request))
    return await accounts.refresh(body.refresh_token)


@auth_router.post("/logout", status_code=204, responses=error_responses(401, 502, 503))
async def logout(principal: PrincipalDep, accounts: AccountsDep) -> Response:
    """End this token's session: the access token and its refresh token stop working on the next request."""
    if principal.session_id is not None:
        await accounts.revoke(principal.session_id)
    return Response(status_code=204)


@auth_router.post(
    "/password-reset",
    status_code=202,
    response_model=Accepted,
    responses={**error_responses(400, 413, 422, 502, 503), **RATE_LIMITED},
)
async def password_reset(request: Request, body: ResetRequest, accounts: AccountsDep) -> Accepted:
    """Send a single-use reset code to the account with this address, if there is one.

    The answer is the same whether or not an account has the address.
    """
    await login_throttle(request).admit_address(_address(request))
    reset = await accounts.issue_reset(body.email)
    if reset is not None:
        await send_reset(*_temporal(request), reset, request.app.state.settings.service_token.get_secret_value())
    return Accepted(detail="if an account has this address, a reset code is on its way")


@auth_router.post(
    "/password-reset/confirm",
    status_code=204,
    responses={
        **error_responses(413, 422, 502, 503),
        **RATE_LIMITED,
        400: {
            "model": ErrorBody,
            "description": "``InvalidResetToken``, ``ResetTokenUsed`` or ``ResetTokenExpired``",
        },
    },
)
async def password_reset_confirm(request: Request, body: ResetConfirmRequest, accounts: AccountsDep) -> Response:
    """Set a new password with a reset code; the code is spent and every session of the account ends."""
    await login_throttle(request).admit_address(_address(request))
    await accounts.confirm_reset(body.token, body.new_password)
    return Response(status_code=204)


def _own(principal: Principal) -> str:
    return principal.user_id


@me_router.get("", response_model=ProfileView)
async def me(principal: PrincipalDep, accounts: AccountsDep) -> ProfileView:
    """The caller's profile as identity keeps it now."""
    return (await accounts.user(_own(principal))).view()


@me_router.put("", response_model=ProfileView, responses=error_responses(400, 409, 413, 422))
async def update_me(body: ProfileUpdateRequest, principal: PrincipalDep, accounts: AccountsDep) -> ProfileView:
    """Change the caller's own name and/or e-mail address (409 ``EmailTaken``).

    Tokens already issued keep the old claims until the next refresh.
    """
    if body.name is None and body.email is None:
        raise RuleViolation("give name, email or both", type="ValidationError")
    return (await accounts.update_profile(_own(principal), body.model_dump(exclude_none=True))).view()


@me_router.post(
    "/password",
    status_code=204,
    responses={
        **error_responses(400, 413, 422),
        **RATE_LIMITED,
        403: {"model": ErrorBody, "description": "``WrongPassword``: the current one"},
    },
)
async def change_password(
    request: Request, body: PasswordChangeRequest, principal: PrincipalDep, accounts: AccountsDep
) -> Response:
    """Set a new password; every session of the caller ends, this one included (log in again).

    A wrong current password is 403 ``WrongPassword`` (not 401: the token is
    fine) and counts as a failed login of the caller's username.
    """
    throttle = login_throttle(request)
    await throttle.admit(principal.username, _address(request))
    try:
        await accounts.change_password(_own(principal), body.current_password, body.new_password)
    except Forbidden:
        await throttle.failed(principal.username)
        raise
    return Response(status_code=204)
