"""Identity routes: logins (people and partner clients), who-am-I, user administration, the public key set,
and the ERP's customers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.security import OAuth2PasswordBearer

from common.db import SessionDep
from common.erp_events import MAX_EVENTS_OFFSET, MAX_EVENTS_PAGE, ErpEventPage, ErpEventRecorded, EventStatus
from common.errors import ErrorBody, Forbidden, NotFound, Unauthorized
from common.idempotency import IDEMPOTENT_RESPONSES, IdempotentDep, fingerprint
from common.oauth import PasswordGrant, TokenGrant, token_grant
from common.security import Principal, TokenIssuer, TokenVerifier
from services.identity import accounts, erp_import, service
from services.identity.account_api import PolicyDep
from services.identity.account_repository import AccountRepository
from services.identity.models import (
    CUSTOMER_NUMBER_PATTERN,
    CustomerErpEventIn,
    CustomerListPage,
    CustomerPublic,
    CustomersPage,
    CustomersResult,
    IdentityWatermarks,
    TokenResponse,
    UserCreate,
    UserPublic,
)
from services.identity.repository import IdentityRepository


async def get_repo(session: SessionDep) -> IdentityRepository:
    return IdentityRepository(session)


async def get_issuer(request: Request) -> TokenIssuer:
    issuer: TokenIssuer = request.app.state.issuer
    return issuer


_bearer = OAuth2PasswordBearer(tokenUrl="/token", auto_error=False)


async def current_principal(
    request: Request, token: Annotated[str | None, Depends(_bearer)], session: SessionDep
) -> Principal:
    """The verified caller; 401 for a missing, malformed, expired or revoked token."""
    if not token:
        raise Unauthorized("missing bearer token", type="MissingToken")
    verifier: TokenVerifier = request.app.state.verifier
    # Identity verifies with its own secret or key set: no I/O, safe on the event loop.
    principal = verifier.verify(token)
    if principal.is_partner:
        raise Forbidden("a partner system's token opens only its webhook", type="PartnerToken")
    if principal.session_id is not None:
        async with session.begin():
            state = await AccountRepository(session).session_state(principal.session_id)
        if state is None or not state[1] or state[0] != principal.user_id:
            raise Unauthorized("this token's session was ended; log in again", type="TokenRevoked")
    return principal


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


@router.post(
    "/token",
    response_model=TokenResponse,
    # A client's answer has no refresh token, a person's no scope: absent rather than null.
    response_model_exclude_none=True,
    tags=["auth"],
    responses={
        400: {"model": ErrorBody, "description": "``UnsupportedGrantType``, or ``InvalidRequest``"},
        401: {
            "model": ErrorBody,
            "description": "``InvalidCredentials`` or ``AccountDisabled`` (password), or ``InvalidClient``",
        },
    },
)
async def token(
    grant: Annotated[TokenGrant, Depends(token_grant)], session: SessionDep, issuer: IssuerDep, policy: PolicyDep
) -> TokenResponse:
    """Exchange a username and password (a person) or a client's credentials (a partner system) for a token.

    A person's login opens a session: a short-lived access token naming it
    (``sid``) and a refresh token (``POST /sessions/refresh``). A disabled
    account's correct password is 401 ``AccountDisabled``.

    ``grant_type=client_credentials`` takes ``client_id`` and ``client_secret`` as
    form fields or HTTP Basic; the token's role is ``partner`` with the client's
    scopes, and there is no refresh token.
    """
    repo = AccountRepository(session)
    async with repo.session.begin():
        if isinstance(grant, PasswordGrant):
            user = await service.authenticate(repo, grant.username, grant.password)
            return await accounts.open_session(repo, issuer, policy, user)
        client = await service.authenticate_client(repo, grant.client_id, grant.client_secret)
    return service.issue_client_token(issuer, client)


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


@router.post("/erp/customers", response_model=CustomersResult, responses=IDEMPOTENT_RESPONSES, tags=["erp"])
async def import_customers(body: CustomersPage, repo: RepoDep, once: IdempotentDep) -> CustomersResult:
    """A page of the ERP's customers: new ones are created, older data is updated.

    A row applies only when its ``changed_at`` is newer than the stored
    customer's, so a repeated page or an older copy changes nothing. The rows
    and the watermark (``customers``) commit together.
    """
    # The page's own JSON dump is the cheap fingerprint of a large body (json.dumps of its dicts costs 5x).
    return await once.run(
        fingerprint("erp-customers", body.model_dump_json()), lambda: erp_import.import_customers(repo, body)
    )


@router.get("/erp/watermarks", response_model=IdentityWatermarks, tags=["erp"])
async def erp_watermarks(repo: RepoDep) -> IdentityWatermarks:
    """Where the customers import stands: the last committed page's ``(changed_at, key)``."""
    return await erp_import.watermarks(repo)


@router.post(
    "/erp/events",
    response_model=ErpEventRecorded,
    responses={409: {"model": ErrorBody, "description": "``EventMismatch`` (the id came with another body)"}},
    tags=["erp"],
)
async def record_erp_event(body: CustomerErpEventIn, repo: RepoDep, once: IdempotentDep) -> ErpEventRecorded:
    """A ``CustomerChanged``, recorded once per ``event_id``: ``applied`` when the customer is new or its data
    newer (the read model takes it; the import's watermark stays), else ``stale``; a repeat: ``duplicate``."""
    return await once.run(fingerprint("erp-event", body.model_dump_json()), lambda: erp_import.record_event(repo, body))


@router.get("/erp/events", response_model=ErpEventPage, tags=["erp"])
async def list_erp_events(
    repo: RepoDep,
    status: EventStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_EVENTS_OFFSET)] = 0,
) -> ErpEventPage:
    """Recorded customer events, newest first."""
    return await erp_import.events(repo, status=status, limit=limit, offset=offset)


@router.get("/customers", response_model=CustomerListPage, tags=["customers"])
async def list_customers(
    repo: RepoDep,
    email: Annotated[str | None, Query(min_length=1, max_length=254, description="Whole address, any case")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> CustomerListPage:
    """A page of the ERP's customers by number."""
    items, total = await repo.list_customers(email=email, limit=limit, offset=offset)
    return CustomerListPage(
        items=[CustomerPublic.model_validate(c, from_attributes=True) for c in items],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/customers/{customer_number}", response_model=CustomerPublic, tags=["customers"])
async def get_customer(
    customer_number: Annotated[str, Path(pattern=CUSTOMER_NUMBER_PATTERN, examples=["0000100001"])], repo: RepoDep
) -> CustomerPublic:
    customer = await repo.get_customer(customer_number)
    if customer is None:
        raise NotFound(f"no customer {customer_number}", type="UnknownCustomer")
    return CustomerPublic.model_validate(customer, from_attributes=True)
