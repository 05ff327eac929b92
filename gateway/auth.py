"""Authentication and role checks for gateway routes.

People (customers, operators, admins) and partner systems (OAuth2 clients,
role ``partner``) hold the same kind of token. A partner's token opens its
own webhook and nothing else: every route for people answers it 403
``PartnerToken``, and the partner routes demand their scope (403
``InsufficientScope`` for a person's token or another scope).

Revocation: a person's token names its login session (``sid``). After the
signature, expiry, audience and algorithm checks, every request with such a
token asks identity whether the session is still open and its user enabled
(``GET /sessions/{sid}``: one primary-key lookup joined by primary key), so a
logout, a reused refresh token, a disabled account or a new password ends the
token on the very next request; there is no cache, hence no stale window
(docs/identity.md measures the cost). A revoked session is 401
``TokenRevoked``; identity unreachable is 503, never a pass. A person's token
without ``sid`` (issued before sessions existed) is refused when
``require_session_claim`` is on (the default in production).

Rate limits (:mod:`gateway.ratelimit`): every call that reaches
:func:`verified_principal` is counted per principal and route once the token's
signature is checked, or per client address when the token is missing or
invalid; over the limit it is 429 ``RateLimited`` before the route's work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from common.errors import Forbidden, Unauthorized
from common.security import Principal, TokenVerifier
from gateway.accounts import IdentityAccounts
from gateway.audit.middleware import note_principal
from gateway.ratelimit import admit_address, admit_principal

_bearer = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


async def verified_principal(request: Request, token: Annotated[str | None, Depends(_bearer)]) -> Principal:
    """Whoever the token names, person or partner; 401 for a missing, malformed, expired or revoked token."""
    if not token:
        await admit_address(request)
        raise Unauthorized("missing bearer token", type="MissingToken")
    verifier: TokenVerifier = request.app.state.verifier
    try:
        principal = await verifier.averify(token)
    except Unauthorized:
        await admit_address(request)  # a flood of forged or expired tokens is one address's flood
        raise
    note_principal(request, principal)  # the audit record names who called, a revoked token's holder too
    # The signature names the caller already: count the call before the session look-up costs a request.
    await admit_principal(request, principal)
    if principal.session_id is not None:
        session = await IdentityAccounts(request.app.state.clients).session(principal.session_id)
        if session is None or not session.active or session.user_id != principal.user_id:
            raise Unauthorized("this token's session was ended; log in again", type="TokenRevoked")
    elif not principal.is_partner and request.app.state.settings.sessions_required():
        raise Unauthorized("this token names no session; log in again", type="InvalidToken")
    return principal


async def current_principal(principal: Annotated[Principal, Depends(verified_principal)]) -> Principal:
    """The verified person calling; 401 for a missing, malformed or expired token, 403 for a partner's token."""
    if principal.is_partner:
        raise Forbidden("a partner system's token opens only its webhook", type="PartnerToken")
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def partner_with_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the calling partner client, holding ``scope``; 403 ``InsufficientScope`` for anyone else."""

    async def partner(principal: Annotated[Principal, Depends(verified_principal)]) -> Principal:
        if not principal.is_partner or scope not in principal.scopes:
            raise Forbidden(f"this needs a partner token with scope {scope!r}", type="InsufficientScope")
        return principal

    return partner


def is_staff(principal: Principal) -> bool:
    """Operators and admins see every order; customers only their own."""
    return principal.has_role("operator", "admin")


async def staff_principal(principal: PrincipalDep) -> Principal:
    """The caller, if an operator or admin; 403 ``StaffOnly`` for anyone else (customers; partners are refused first)."""
    if not is_staff(principal):
        raise Forbidden("this needs the operator or admin role", type="StaffOnly")
    return principal


StaffDep = Annotated[Principal, Depends(staff_principal)]


async def admin_principal(principal: PrincipalDep) -> Principal:
    """The caller, if an admin; 403 ``AdminOnly`` for operators and customers (partners are refused first)."""
    if not principal.has_role("admin"):
        raise Forbidden("this needs the admin role", type="AdminOnly")
    return principal


AdminDep = Annotated[Principal, Depends(admin_principal)]
