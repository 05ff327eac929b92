"""Identity routes: login, who-am-I, user administration and the public key set."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from common.db import SessionDep
from common.errors import Forbidden, Unauthorized
from common.idempotency import IDEMPOTENT_RESPONSES, IdempotentDep, fingerprint
from common.security import Principal, TokenIssuer, TokenVerifier
from services.identity import service
from services.identity.models import TokenResponse, UserCreate, UserPublic
from services.identity.repository import IdentityRepository


async def get_repo(session: SessionDep) -> IdentityRepository:
    return IdentityRepository(session)


async def get_issuer(request: Request) -> TokenIssuer:
    issuer: TokenIssuer = request.app.state.issuer
    return issuer


_bearer = OAuth2PasswordBearer(tokenUrl="/token", auto_error=False)


async def current_principal(request: Request, token: Annotated[str | None, Depends(_bearer)]) -> Principal:
    """The verified caller; 401 for a missing, malformed or expired token."""
    if not token:
        raise Unauthorized("missing bearer token", type="MissingToken")
    verifier: TokenVerifier = request.app.state.verifier
    # Identity verifies with its own secret or key set: no I/O, safe on the event loop.
    return verifier.verify(token)


async def require_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.has_role("admin"):
        raise Forbidden("requires role admin", type="Forbidden")
    return principal


RepoDep = Annotated[IdentityRepository, Depends(get_repo)]
IssuerDep = Annotated[TokenIssuer, Depends(get_issuer)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]

router = APIRouter()
# Bounded: past int64 the database refuses the value; deep offsets cost a scan and no caller pages this far.
MAX_OFFSET = 1_000_000


@router.post("/token", response_model=TokenResponse, tags=["auth"])
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], repo: RepoDep, issuer: IssuerDep
) -> TokenResponse:
    """Exchange a username and password for a bearer token."""
    async with repo.session.begin():
        user = await service.authenticate(repo, form.username, form.password)
    return service.issue_token(issuer, user)


@router.get("/users/me", response_model=UserPublic, tags=["users"])
async def me(principal: PrincipalDep, repo: RepoDep) -> UserPublic:
    user = await repo.get(principal.user_id)
    if user is None:
        raise Unauthorized("the token's user no longer exists", type="UnknownUser")
    return service.user_public(user)


@router.get("/users", response_model=list[UserPublic], tags=["users"])
async def list_users(
    _: AdminDep,
    repo: RepoDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[UserPublic]:
    return [service.user_public(u) for u in await repo.list_users(limit=limit, offset=offset)]


@router.post("/users", status_code=201, response_model=UserPublic, responses=IDEMPOTENT_RESPONSES, tags=["users"])
async def create_user(_: AdminDep, body: UserCreate, repo: RepoDep, once: IdempotentDep) -> UserPublic:
    async def operation() -> UserPublic:
        return service.user_public(await service.create_user(repo, body))

    # The password stays out of the fingerprint: it is stored, and a plain hash of it would leak it.
    return await once.run(fingerprint("create_user", body.model_dump(mode="json", exclude={"password"})), operation)


@router.get("/.well-known/jwks.json", tags=["auth"])
async def jwks(issuer: IssuerDep) -> dict[str, Any]:
    """The RS256 public keys tokens are signed with; empty when tokens are HS256."""
    return issuer.jwks()
