"""Identity's account routes as the gateway calls them: sessions, self-service, resets, administration.

Errors map as :mod:`gateway.clients` maps them, plus identity's 400 (a reset
token that is unknown, used or expired), which keeps its ``type``. A 404 of a
user or session is ``None`` for the caller to decide.
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter

from common.errors import DomainError, NotFound
from gateway.account_models import (
    ClientPage,
    ClientSecretView,
    ResetRecord,
    SessionRecord,
    UserPageRecord,
    UserRecord,
)
from gateway.clients import ServiceClients, _json, _parse, _raise_for_status
from gateway.models import TokenResponse

T = TypeVar("T")

_TOKEN = TypeAdapter(TokenResponse)
_USER = TypeAdapter(UserRecord)
_USERS = TypeAdapter(UserPageRecord)
_SESSION = TypeAdapter(SessionRecord)
_RESET = TypeAdapter(ResetRecord)
_CLIENT_SECRET = TypeAdapter(ClientSecretView)
_CLIENTS = TypeAdapter(ClientPage)


def _raise(resp: httpx.Response) -> None:
    if resp.status_code == 400:
        body = _json(resp)
        if isinstance(body, dict) and isinstance(body.get("type"), str) and isinstance(body.get("detail"), str):
            raise DomainError(body["detail"], type=body["type"])
    _raise_for_status(resp)


def _page_params(limit: int, offset: int, cursor: str | None) -> dict[str, str | int]:
    params: dict[str, str | int] = {"limit": limit, "offset": offset}
    if cursor is not None:
        params["cursor"] = cursor
    return params


class IdentityAccounts:
    """The account routes of identity over the gateway's pooled, service-token client."""

    def __init__(self, clients: ServiceClients) -> None:
        self._clients = clients
        self._base = clients.urls.identity_url.rstrip("/")

    async def _call(
        self, adapter: TypeAdapter[T], method: str, path: str, *, json: Any = None, params: Any = None
    ) -> T | None:
        resp = await self._clients._send(method, f"{self._base}{path}", json=json, params=params)
        if resp.status_code in (204, 404):
            return None
        _raise(resp)
        return _parse(adapter, resp)

    async def _must(
        self, adapter: TypeAdapter[T], method: str, path: str, *, json: Any = None, params: Any = None
    ) -> T:
        found = await self._call(adapter, method, path, json=json, params=params)
        if found is None:
            raise NotFound("no such account", type="UnknownUser")
        return found

    # -- sessions ----------------------------------------------------------------------------
    async def session(self, session_id: str) -> SessionRecord | None:
        """The session's state; ``None`` when identity knows no such session."""
        return await self._call(_SESSION, "GET", f"/sessions/{session_id}")

    async def refresh(self, refresh_token: str) -> TokenResponse:
        return await self._must(_TOKEN, "POST", "/sessions/refresh", json={"refresh_token": refresh_token})

    async def revoke(self, session_id: str) -> None:
        await self._call(_SESSION, "POST", f"/sessions/{session_id}/revoke")

    # -- accounts ----------------------------------------------------------------------------
    async def register(self, body: dict[str, Any]) -> UserRecord:
        return await self._must(_USER, "POST", "/accounts", json=body)

    async def user(self, user_id: str) -> UserRecord:
        return await self._must(_USER, "GET", f"/accounts/{user_id}")

    async def users(self, *, limit: int, offset: int, cursor: str | None = None) -> UserPageRecord:
        """A page of users; a cursor identity did not give out is its 422 ``InvalidCursor``."""
        return await self._must(_USERS, "GET", "/accounts", params=_page_params(limit, offset, cursor))

    async def update_profile(self, user_id: str, body: dict[str, Any]) -> UserRecord:
        return await self._must(_USER, "PUT", f"/accounts/{user_id}/profile", json=body)

    async def change_password(self, user_id: str, current: str, new: str) -> None:
        resp = await self._clients._send(
            "POST",
            f"{self._base}/accounts/{user_id}/password",
            json={"current_password": current, "new_password": new},
        )
        if resp.status_code == 404:
            raise NotFound("no such account", type="UnknownUser")
        _raise(resp)

    async def set_disabled(self, user_id: str, *, disabled: bool) -> UserRecord:
        return await self._must(_USER, "POST", f"/accounts/{user_id}/{'disable' if disabled else 'enable'}")

    async def set_role(self, user_id: str, role: str) -> UserRecord:
        return await self._must(_USER, "PUT", f"/accounts/{user_id}/role", json={"role": role})

    # -- password resets ---------------------------------------------------------------------
    async def issue_reset(self, email: str) -> ResetRecord | None:
        """A reset token to send, or ``None`` when no enabled account has the address."""
        return await self._call(_RESET, "POST", "/password-resets", json={"email": email})

    async def confirm_reset(self, token: str, new_password: str) -> None:
        resp = await self._clients._send(
            "POST", f"{self._base}/password-resets/confirm", json={"token": token, "new_password": new_password}
        )
        _raise(resp)

    # -- partner clients -----------------------------------------------------------------------
    async def clients(self, *, limit: int, offset: int, cursor: str | None = None) -> ClientPage:
        """A page of partner clients; a cursor identity did not give out is its 422 ``InvalidCursor``."""
        return await self._must(_CLIENTS, "GET", "/clients", params=_page_params(limit, offset, cursor))

    async def create_client(self, body: dict[str, Any]) -> ClientSecretView:
        return await self._must(_CLIENT_SECRET, "POST", "/clients", json=body)

    async def rotate_client(self, client_id: str) -> ClientSecretView | None:
        return await self._call(_CLIENT_SECRET, "POST", f"/clients/{client_id}/rotate")
