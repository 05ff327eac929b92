"""Identity routes for sessions, self-service, password resets, account administration and partner clients.

Like every service's routes they trust the deployment's service token: the
gateway has verified the caller and their role before it calls these (a
customer's ``user_id`` is always the caller's own). Routes that answer or take
a secret (refresh, password, reset and client-secret routes) take no
``Idempotency-Key``: a replay would have to store the secret it answered.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from common.db import SessionDep
from common.errors import ErrorBody, NotFound
from common.idempotency import IDEMPOTENT_RESPONSES, IdempotentDep, fingerprint
from common.paging import MAX_CURSOR_LENGTH, decode_key_cursor, encode_key_cursor
from common.security import TokenIssuer
from services.identity import accounts, service
from services.identity.account_models import (
    ClientCreate,
    ClientCredentials,
    ClientPage,
    ClientPublic,
    PasswordChange,
    ProfileUpdate,
    RefreshRequest,
    Registration,
    ResetConfirm,
    ResetIssued,
    ResetRequest,
    RoleChange,
    SessionState,
    UserPage,
)
from services.identity.account_repository import AccountRepository
from services.identity.accounts import TokenPolicy
from services.identity.models import TokenResponse, UserPublic

#: The names that bind a cursor to its list (:func:`common.paging.encode_key_cursor`).
USERS_LIST = "users"
CLIENTS_LIST = "clients"


async def get_accounts(session: SessionDep) -> AccountRepository:
    return AccountRepository(session)


async def get_policy(request: Request) -> TokenPolicy:
    policy: TokenPolicy = request.app.state.token_policy
    return policy


async def get_issuer(request: Request) -> TokenIssuer:
    issuer: TokenIssuer = request.app.state.issuer
    return issuer


AccountsDep = Annotated[AccountRepository, Depends(get_accounts)]
PolicyDep = Annotated[TokenPolicy, Depends(get_policy)]
IssuerDep = Annotated[TokenIssuer, Depends(get_issuer)]
UserId = Annotated[str, Path(min_length=1, max_length=64)]
SessionId = Annotated[str, Path(min_length=1, max_length=64)]
ClientId = Annotated[str, Path(min_length=1, max_length=64)]

router = APIRouter()


def _errors(*pairs: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody, "description": description} for code, description in pairs}


# -- sessions -------------------------------------------------------------------------------------


@router.post(
    "/sessions/refresh",
    response_model=TokenResponse,
    tags=["auth"],
    responses=_errors(
        (
            401,
            "``InvalidRefreshToken``, ``RefreshTokenExpired``, ``RefreshTokenReused`` (its session is now "
            "revoked) or ``SessionRevoked``",
        ),
    ),
)
async def refresh(body: RefreshRequest, repo: AccountsDep, issuer: IssuerDep, policy: PolicyDep) -> TokenResponse:
    """Exchange a refresh token for a new access token and refresh token (the old one is spent)."""
    return await accounts.refresh(repo, issuer, policy, body.refresh_token)


@router.get(
    "/sessions/{session_id}", response_model=SessionState, tags=["auth"], responses=_errors((404, "``UnknownSession``"))
)
async def session_state(session_id: SessionId, repo: AccountsDep) -> SessionState:
    """Whether the session's tokens still work (the gateway asks on every request with a person's token)."""
    state = await repo.session_state(session_id)
    if state is None:
        raise NotFound(f"no session {session_id}", type="UnknownSession")
    return SessionState(session_id=session_id, user_id=state[0], active=state[1])


@router.post(
    "/sessions/{session_id}/revoke", response_model=SessionState, responses=IDEMPOTENT_RESPONSES, tags=["auth"]
)
async def revoke(session_id: SessionId, repo: AccountsDep, once: IdempotentDep) -> SessionState:
    """End the session (logout); ending an ended one changes nothing."""

    async def operation() -> SessionState:
        await accounts.revoke_session(repo, session_id)
        state = await repo.session_state(session_id)
        return SessionState(session_id=session_id, user_id=state[0] if state else "", active=False)

    return await once.run(fingerprint("revoke", session_id), operation)


# -- accounts ---------------------------------------------------------------------------------------


@router.post(
    "/accounts",
    status_code=201,
    response_model=UserPublic,
    responses={**IDEMPOTENT_RESPONSES, **_errors((409, "``UsernameTaken`` or ``EmailTaken``"))},
    tags=["accounts"],
)
async def register(body: Registration, repo: AccountsDep, once: IdempotentDep) -> UserPublic:
    """A customer signs up."""

    async def operation() -> UserPublic:
        return service.user_public(await accounts.register(repo, body))

    return await once.run(fingerprint("register", body.model_dump(mode="json", exclude={"password"})), operation)


CursorQuery = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR_LENGTH,
        description="A previous page's next_cursor: the page after it (422 InvalidCursor if not one given out)",
    ),
]


@router.get("/accounts", response_model=UserPage, responses=_errors((422, "``InvalidCursor``")), tags=["accounts"])
async def list_accounts(
    repo: AccountsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    cursor: CursorQuery = None,
) -> UserPage:
    """Users by username; ``cursor`` continues after a page's last user (``offset`` then skips further)."""
    after = decode_key_cursor(cursor, USERS_LIST, str) if cursor is not None else None
    async with repo.session.begin():
        # One row more than asked tells whether another page follows.
        users, total = await repo.list_page(limit=limit + 1, offset=offset, after=after)
    page = users[:limit]
    return UserPage(
        items=[service.user_public(u) for u in page],
        total=total,
        limit=limit,
        offset=offset,
        next_cursor=encode_key_cursor(USERS_LIST, page[-1].username) if len(users) > limit else None,
    )


@router.get(
    "/accounts/{user_id}", response_model=UserPublic, tags=["accounts"], responses=_errors((404, "UnknownUser"))
)
async def get_account(user_id: UserId, repo: AccountsDep) -> UserPublic:
    async with repo.session.begin():
        user = await accounts.get_user(repo, user_id)
    return service.user_public(user)


@router.put(
    "/accounts/{user_id}/profile",
    response_model=UserPublic,
    responses={**IDEMPOTENT_RESPONSES, **_errors((404, "``UnknownUser``"), (409, "``EmailTaken``"))},
    tags=["accounts"],
)
async def update_profile(user_id: UserId, body: ProfileUpdate, repo: AccountsDep, once: IdempotentDep) -> UserPublic:
    async def operation() -> UserPublic:
        return service.user_public(await accounts.update_profile(repo, user_id, body))

    return await once.run(fingerprint("profile", user_id, body.model_dump(mode="json")), operation)


@router.post(
    "/accounts/{user_id}/password",
    status_code=204,
    responses=_errors((403, "``WrongPassword``"), (404, "``UnknownUser``")),
    tags=["accounts"],
)
async def change_password(user_id: UserId, body: PasswordChange, repo: AccountsDep) -> Response:
    """Set a new password (the current one must match); every session of the user is revoked."""
    async with repo.session.begin():
        await accounts.change_password(repo, user_id, body.current_password, body.new_password)
    return Response(status_code=204)


@router.post(
    "/accounts/{user_id}/disable",
    response_model=UserPublic,
    responses={**IDEMPOTENT_RESPONSES, **_errors((404, "``UnknownUser``"))},
    tags=["accounts"],
)
async def disable(user_id: UserId, repo: AccountsDep, once: IdempotentDep) -> UserPublic:
    """The user can no longer log in; every open session is revoked at once."""

    async def operation() -> UserPublic:
        return service.user_public(await accounts.set_disabled(repo, user_id, disabled=True))

    return await once.run(fingerprint("disable", user_id), operation)


@router.post(
    "/accounts/{user_id}/enable",
    response_model=UserPublic,
    responses={**IDEMPOTENT_RESPONSES, **_errors((404, "``UnknownUser``"))},
    tags=["accounts"],
)
async def enable(user_id: UserId, repo: AccountsDep, once: IdempotentDep) -> UserPublic:
    async def operation() -> UserPublic:
        return service.user_public(await accounts.set_disabled(repo, user_id, disabled=False))

    return await once.run(fingerprint("enable", user_id), operation)


@router.put(
    "/accounts/{user_id}/role",
    response_model=UserPublic,
    responses={**IDEMPOTENT_RESPONSES, **_errors((404, "``UnknownUser``"))},
    tags=["accounts"],
)
async def set_role(user_id: UserId, body: RoleChange, repo: AccountsDep, once: IdempotentDep) -> UserPublic:
    """Another role; the user's sessions are revoked (their tokens carried the old one)."""

    async def operation() -> UserPublic:
        return service.user_public(await accounts.set_role(repo, user_id, body.role))

    return await once.run(fingerprint("role", user_id, body.role.value), operation)


# -- password resets ----------------------------------------------------------------------------------


@router.post(
    "/password-resets",
    status_code=201,
    response_model=ResetIssued,
    responses={204: {"description": "No enabled account has this address; nothing was issued"}},
    tags=["accounts"],
)
async def request_reset(body: ResetRequest, repo: AccountsDep, policy: PolicyDep) -> ResetIssued | Response:
    """A single-use reset token for the account with this address, for the gateway to send; 204 when none."""
    async with repo.session.begin():
        issued = await accounts.issue_reset(repo, policy, body.email)
    return issued if issued is not None else Response(status_code=204)


@router.post(
    "/password-resets/confirm",
    status_code=204,
    responses=_errors((400, "``InvalidResetToken``, ``ResetTokenUsed`` or ``ResetTokenExpired``")),
    tags=["accounts"],
)
async def confirm_reset(body: ResetConfirm, repo: AccountsDep) -> Response:
    """Set the new password; the token is spent and every session of the user revoked."""
    async with repo.session.begin():
        await accounts.confirm_reset(repo, body.token, body.new_password)
    return Response(status_code=204)


# -- partner clients ----------------------------------------------------------------------------------


@router.get("/clients", response_model=ClientPage, responses=_errors((422, "``InvalidCursor``")), tags=["clients"])
async def list_clients(
    repo: AccountsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    cursor: CursorQuery = None,
) -> ClientPage:
    """Partner clients by id; ``cursor`` continues after a page's last client (``offset`` then skips further)."""
    after = decode_key_cursor(cursor, CLIENTS_LIST, str) if cursor is not None else None
    async with repo.session.begin():
        clients, total = await repo.list_clients(limit=limit + 1, offset=offset, after=after)
    page = clients[:limit]
    return ClientPage(
        items=[ClientPublic.model_validate(c, from_attributes=True) for c in page],
        total=total,
        limit=limit,
        offset=offset,
        next_cursor=encode_key_cursor(CLIENTS_LIST, page[-1].client_id) if len(clients) > limit else None,
    )


@router.post(
    "/clients",
    status_code=201,
    response_model=ClientCredentials,
    responses=_errors((409, "``ClientIdTaken``")),
    tags=["clients"],
)
async def create_client(body: ClientCreate, repo: AccountsDep) -> ClientCredentials:
    """A new partner client; its secret is in this answer and nowhere else."""
    async with repo.session.begin():
        return await accounts.create_client(repo, body)


@router.post(
    "/clients/{client_id}/rotate",
    response_model=ClientCredentials,
    responses=_errors((404, "``UnknownClient``")),
    tags=["clients"],
)
async def rotate_client(client_id: ClientId, repo: AccountsDep) -> ClientCredentials:
    """A new secret; the old one stops working at once."""
    async with repo.session.begin():
        return await accounts.rotate_client(repo, client_id)
