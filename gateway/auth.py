"""Authentication and role checks for gateway routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from common.errors import Forbidden, Unauthorized
from common.security import Principal, TokenVerifier

_bearer = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


async def current_principal(request: Request, token: Annotated[str | None, Depends(_bearer)]) -> Principal:
    """The verified caller; 401 for a missing, malformed or expired token."""
    if not token:
        raise Unauthorized("missing bearer token", type="MissingToken")
    verifier: TokenVerifier = request.app.state.verifier
    return await verifier.averify(token)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def is_staff(principal: Principal) -> bool:
    """Operators and admins see every order; customers only their own."""
    return principal.has_role("operator", "admin")


async def staff_principal(principal: PrincipalDep) -> Principal:
    """The caller, if an operator or admin; 403 ``StaffOnly`` for anyone else (customers, partners)."""
    if not is_staff(principal):
        raise Forbidden("this needs the operator or admin role", type="StaffOnly")
    return principal


StaffDep = Annotated[Principal, Depends(staff_principal)]
