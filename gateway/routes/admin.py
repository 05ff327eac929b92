"""``/api/admin``: user management and partner clients (role admin; operators and customers get 403 ``AdminOnly``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from common.errors import NotFound
from common.paging import MAX_CURSOR_LENGTH
from gateway.account_models import (
    ClientCreateRequest,
    ClientPage,
    ClientSecretView,
    ProfileView,
    RoleRequest,
    UserPage,
)
from gateway.accounts import IdentityAccounts
from gateway.auth import AdminDep
from gateway.errors import error_responses

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=error_responses(401, 403, 502, 503))
UserIdPath = Annotated[str, Path(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
ClientIdPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]


def _accounts(request: Request) -> IdentityAccounts:
    return IdentityAccounts(request.app.state.clients)


LimitQuery = Annotated[int, Query(ge=1, le=200)]
OffsetQuery = Annotated[int, Query(ge=0, le=1_000_000)]
CursorQuery = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR_LENGTH,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="A previous page's next_cursor: the page after it (422 InvalidCursor if not one given out)",
    ),
]


@router.get("/users", response_model=UserPage, responses=error_responses(422))
async def list_users(
    request: Request,
    _: AdminDep,
    limit: LimitQuery = 50,
    offset: OffsetQuery = 0,
    cursor: CursorQuery = None,
) -> UserPage:
    """A page of users by username (``disabled`` tells who cannot log in).

    Walk with ``cursor`` (each page's ``next_cursor``) to see each user once
    while others sign up; ``offset`` pages still work, but shift meanwhile.
    """
    page = await _accounts(request).users(limit=limit, offset=offset, cursor=cursor)
    return UserPage(
        items=[u.view() for u in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
        next_cursor=page.next_cursor,
    )


@router.post("/users/{user_id}/disable", response_model=ProfileView, responses=error_responses(404))
async def disable_user(request: Request, user_id: UserIdPath, _: AdminDep) -> ProfileView:
    """The user cannot log in any more, and every token of theirs stops working on its next request."""
    return (await _accounts(request).set_disabled(user_id, disabled=True)).view()


@router.post("/users/{user_id}/enable", response_model=ProfileView, responses=error_responses(404))
async def enable_user(request: Request, user_id: UserIdPath, _: AdminDep) -> ProfileView:
    """The user may log in again (tokens revoked by the disable stay revoked)."""
    return (await _accounts(request).set_disabled(user_id, disabled=False)).view()


@router.put("/users/{user_id}/role", response_model=ProfileView, responses=error_responses(400, 404, 413))
async def set_role(request: Request, user_id: UserIdPath, body: RoleRequest, _: AdminDep) -> ProfileView:
    """Another role; the user's sessions end (their tokens carried the old role), so they log in again."""
    return (await _accounts(request).set_role(user_id, body.role)).view()


@router.get("/clients", response_model=ClientPage, responses=error_responses(422))
async def list_clients(
    request: Request,
    _: AdminDep,
    limit: LimitQuery = 50,
    offset: OffsetQuery = 0,
    cursor: CursorQuery = None,
) -> ClientPage:
    """A page of partner clients (OAuth2 client credentials) by id, without their secrets; walk with ``cursor``."""
    return await _accounts(request).clients(limit=limit, offset=offset, cursor=cursor)


@router.post("/clients", status_code=201, response_model=ClientSecretView, responses=error_responses(400, 409, 413))
async def create_client(request: Request, body: ClientCreateRequest, _: AdminDep) -> ClientSecretView:
    """A new partner client; its secret is in this answer only (409 ``ClientIdTaken``)."""
    return await _accounts(request).create_client(body.model_dump(exclude_none=True))


@router.post("/clients/{client_id}/rotate", response_model=ClientSecretView, responses=error_responses(404))
async def rotate_client(request: Request, client_id: ClientIdPath, _: AdminDep) -> ClientSecretView:
    """A new secret; the old one stops working at once (tokens it already got run out by their ``exp``)."""
    rotated = await _accounts(request).rotate_client(client_id)
    if rotated is None:
        raise NotFound(f"no client {client_id}", type="UnknownClient")
    return rotated
