"""Sessions and refresh-token rotation, logout, disabled accounts, role and password changes, resets, registration,
profiles and partner clients, against identity's app and a real PostgreSQL (rolled back after each test)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.accounts import token_hash
from services.identity.app import create_app
from services.identity.seed import seed
from tests.conftest import FreshDatabase, ServiceDatabases
from tests.support import committing_client, rolled_back_client

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["identity"]


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Sessions]]:
    async with rolled_back_client(create_app, "identity", database_url) as (client, sessions):
        async with sessions() as session:
            await seed(session)
        yield client, sessions


@pytest.fixture
def client(app: tuple[httpx.AsyncClient, Sessions]) -> httpx.AsyncClient:
    return app[0]


async def sql(sessions: Sessions, statement: str, **params: Any) -> None:
    async with sessions() as session, session.begin():
        await session.exec(text(statement).bindparams(**params))  # type: ignore[call-overload]


async def login(client: httpx.AsyncClient, username: str = "alice", password: str = "alice-pass") -> dict[str, Any]:
    resp = await client.post("/token", data={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def sid(tokens: dict[str, Any]) -> str:
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert isinstance(claims["jti"], str)
    session_id: str = claims["sid"]
    return session_id


async def active(client: httpx.AsyncClient, session_id: str) -> bool:
    resp = await client.get(f"/sessions/{session_id}")
    assert resp.status_code == 200, resp.text
    return bool(resp.json()["active"])


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/sessions/refresh", json={"refresh_token": token})


async def register(client: httpx.AsyncClient, **overrides: Any) -> httpx.Response:
    name = f"reg-{uuid.uuid4().hex[:8]}"
    body = {"username": name, "email": f"{name}@example.com", "password": "Sturdy-pass-1", **overrides}
    return await client.post("/accounts", json=body)


async def test_a_refresh_rotates_the_pair_within_the_session(client: httpx.AsyncClient) -> None:
    first = await login(client)
    again = await refresh(client, first["refresh_token"])
    assert again.status_code == 200, again.text
    second = again.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert sid(second) == sid(first)
    assert await active(client, sid(first))
    third = await refresh(client, second["refresh_token"])
    assert third.status_code == 200, third.text


async def test_a_reused_refresh_token_revokes_its_whole_family(client: httpx.AsyncClient) -> None:
    first = await login(client)
    other = await login(client)  # another login of the same user: another family
    second = (await refresh(client, first["refresh_token"])).json()

    reused = await refresh(client, first["refresh_token"])
    assert (reused.status_code, reused.json()["type"]) == (401, "RefreshTokenReused")
    assert not await active(client, sid(first))
    # The family's newest refresh token and its access tokens are dead too.
    newest = await refresh(client, second["refresh_token"])
    assert (newest.status_code, newest.json()["type"]) == (401, "SessionRevoked")
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert (me.status_code, me.json()["type"]) == (401, "TokenRevoked")
    # The other family is untouched.
    assert await active(client, sid(other))
    assert (await refresh(client, other["refresh_token"])).status_code == 200


async def test_expired_and_unknown_refresh_tokens_are_401(
    app: tuple[httpx.AsyncClient, Sessions],
) -> None:
    client, sessions = app
    tokens = await login(client)
    await sql(
        sessions,
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = :h",
        h=token_hash(tokens["refresh_token"]),
    )
    expired = await refresh(client, tokens["refresh_token"])
    assert (expired.status_code, expired.json()["type"]) == (401, "RefreshTokenExpired")
    unknown = await refresh(client, "not-a-token-we-issued")
    assert (unknown.status_code, unknown.json()["type"]) == (401, "InvalidRefreshToken")
    assert (await refresh(client, "")).status_code == 422


async def test_refresh_tokens_are_stored_only_as_hashes(app: tuple[httpx.AsyncClient, Sessions]) -> None:
    client, sessions = app
    tokens = await login(client)
    async with sessions() as session:
        stored = (await session.exec(text("SELECT token_hash FROM refresh_tokens"))).all()  # type: ignore[call-overload]
    hashes = {row[0] for row in stored}
    assert token_hash(tokens["refresh_token"]) in hashes
    assert tokens["refresh_token"] not in hashes


async def test_logout_ends_the_session(client: httpx.AsyncClient) -> None:
    tokens = await login(client)
    resp = await client.post(f"/sessions/{sid(tokens)}/revoke")
    assert resp.status_code == 200, resp.text
    assert resp.json()["active"] is False
    assert not await active(client, sid(tokens))
    assert (await refresh(client, tokens["refresh_token"])).json()["type"] == "SessionRevoked"
    assert (await client.post(f"/sessions/{sid(tokens)}/revoke")).status_code == 200  # again: nothing changes
    assert (await client.get("/sessions/no-such-session")).status_code == 404


async def test_a_disabled_user_loses_every_session_and_cannot_log_in(client: httpx.AsyncClient) -> None:
    tokens = await login(client)
    user_id = jwt.decode(tokens["access_token"], options={"verify_signature": False})["uid"]
    disabled = await client.post(f"/accounts/{user_id}/disable")
    assert (disabled.status_code, disabled.json()["disabled"]) == (200, True)
    assert not await active(client, sid(tokens))
    refused = await client.post("/token", data={"username": "alice", "password": "alice-pass"})
    assert (refused.status_code, refused.json()["type"]) == (401, "AccountDisabled")
    enabled = await client.post(f"/accounts/{user_id}/enable")
    assert enabled.json()["disabled"] is False
    assert not await active(client, sid(tokens))  # enabling opens no old session again
    await login(client)
    assert (await client.post("/accounts/nobody/disable")).json()["type"] == "UnknownUser"


async def test_a_role_change_ends_the_users_sessions(client: httpx.AsyncClient) -> None:
    tokens = await login(client)
    user_id = jwt.decode(tokens["access_token"], options={"verify_signature": False})["uid"]
    changed = await client.put(f"/accounts/{user_id}/role", json={"role": "operator"})
    assert (changed.status_code, changed.json()["role"]) == (200, "operator")
    assert not await active(client, sid(tokens))
    fresh = await login(client)
    assert jwt.decode(fresh["access_token"], options={"verify_signature": False})["role"] == "operator"
    # The same role again is no change: the new session stays.
    await client.put(f"/accounts/{user_id}/role", json={"role": "operator"})
    assert await active(client, sid(fresh))
    assert (await client.put(f"/accounts/{user_id}/role", json={"role": "partner"})).status_code == 422


async def test_a_password_change_needs_the_current_one_and_ends_every_session(client: httpx.AsyncClient) -> None:
    tokens = await login(client)
    user_id = jwt.decode(tokens["access_token"], options={"verify_signature": False})["uid"]
    wrong = await client.post(
        f"/accounts/{user_id}/password", json={"current_password": "guess", "new_password": "New-pass-2024"}
    )
    assert (wrong.status_code, wrong.json()["type"]) == (403, "WrongPassword")
    assert await active(client, sid(tokens))
    weak = await client.post(
        f"/accounts/{user_id}/password", json={"current_password": "alice-pass", "new_password": "aaaaaaaa"}
    )
    assert weak.status_code == 422
    done = await client.post(
        f"/accounts/{user_id}/password", json={"current_password": "alice-pass", "new_password": "New-pass-2024"}
    )
    assert done.status_code == 204, done.text
    assert not await active(client, sid(tokens))
    assert (await client.post("/token", data={"username": "alice", "password": "alice-pass"})).status_code == 401
    await login(client, "alice", "New-pass-2024")


async def test_a_reset_token_works_once_and_ends_every_session(app: tuple[httpx.AsyncClient, Sessions]) -> None:
    client, sessions = app
    tokens = await login(client)
    nobody = await client.post("/password-resets", json={"email": "nobody@example.com"})
    assert nobody.status_code == 204
    issued = await client.post("/password-resets", json={"email": "ALICE@example.com"})
    assert issued.status_code == 201, issued.text
    reset = issued.json()
    assert reset["email"] == "alice@example.com"
    async with sessions() as session:
        stored = (await session.exec(text("SELECT token_hash FROM password_resets"))).all()  # type: ignore[call-overload]
    assert {row[0] for row in stored} == {token_hash(reset["token"])}

    confirm = {"token": reset["token"], "new_password": "Reset-pass-77"}
    assert (await client.post("/password-resets/confirm", json=confirm)).status_code == 204
    assert not await active(client, sid(tokens))
    await login(client, "alice", "Reset-pass-77")
    again = await client.post("/password-resets/confirm", json={**confirm, "new_password": "Other-pass-88"})
    assert (again.status_code, again.json()["type"]) == (400, "ResetTokenUsed")
    unknown = await client.post("/password-resets/confirm", json={**confirm, "token": "forged"})
    assert (unknown.status_code, unknown.json()["type"]) == (400, "InvalidResetToken")


async def test_an_expired_reset_token_is_refused_and_a_new_password_voids_older_ones(
    app: tuple[httpx.AsyncClient, Sessions],
) -> None:
    client, sessions = app
    old = (await client.post("/password-resets", json={"email": "alice@example.com"})).json()
    await sql(
        sessions, "UPDATE password_resets SET expires_at = now() - interval '1 second' WHERE id = :i", i=old["reset_id"]
    )
    expired = await client.post(
        "/password-resets/confirm", json={"token": old["token"], "new_password": "Reset-pass-77"}
    )
    assert (expired.status_code, expired.json()["type"]) == (400, "ResetTokenExpired")

    first = (await client.post("/password-resets", json={"email": "alice@example.com"})).json()
    second = (await client.post("/password-resets", json={"email": "alice@example.com"})).json()
    used = await client.post(
        "/password-resets/confirm", json={"token": second["token"], "new_password": "Reset-pass-77"}
    )
    assert used.status_code == 204
    stale = await client.post(
        "/password-resets/confirm", json={"token": first["token"], "new_password": "Reset-pass-99"}
    )
    assert (stale.status_code, stale.json()["type"]) == (400, "ResetTokenUsed")


async def test_a_disabled_account_gets_no_reset_token(client: httpx.AsyncClient) -> None:
    user_id = jwt.decode((await login(client))["access_token"], options={"verify_signature": False})["uid"]
    await client.post(f"/accounts/{user_id}/disable")
    assert (await client.post("/password-resets", json={"email": "alice@example.com"})).status_code == 204


async def test_registration_makes_a_customer_and_refuses_duplicates_and_weak_passwords(
    client: httpx.AsyncClient,
) -> None:
    created = await register(client, username="newbie-1", email="Newbie@Example.com")
    assert created.status_code == 201, created.text
    user = created.json()
    assert (user["role"], user["full_name"], user["disabled"]) == ("customer", "newbie-1", False)
    await login(client, "newbie-1", "Sturdy-pass-1")

    taken = await register(client, username="newbie-1")
    assert (taken.status_code, taken.json()["type"]) == (409, "UsernameTaken")
    same_address = await register(client, email="newbie@example.COM")
    assert (same_address.status_code, same_address.json()["type"]) == (409, "EmailTaken")
    for weak in ("short1!", "aaaaaaaaaaaa", "12345678901", "lowercaseonly"):
        assert (await register(client, password=weak)).status_code == 422, weak
    assert (await register(client, username="Has Space")).status_code == 422
    assert (await register(client, email="not-an-address")).status_code == 422
    assert (await register(client, role="admin")).status_code == 422  # nobody registers as staff


async def test_a_profile_changes_name_and_address_but_not_to_anothers(client: httpx.AsyncClient) -> None:
    user = (await register(client)).json()
    changed = await client.put(f"/accounts/{user['id']}/profile", json={"name": "Bob Buyer", "email": "bob@x.example"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["full_name"], changed.json()["email"]) == ("Bob Buyer", "bob@x.example")
    taken = await client.put(f"/accounts/{user['id']}/profile", json={"email": "alice@example.com"})
    assert (taken.status_code, taken.json()["type"]) == (409, "EmailTaken")
    assert (await client.put(f"/accounts/{user['id']}/profile", json={})).status_code == 422
    assert (await client.get(f"/accounts/{user['id']}")).json()["full_name"] == "Bob Buyer"


async def test_the_admin_list_is_a_page(client: httpx.AsyncClient) -> None:
    page = (await client.get("/accounts", params={"limit": 2})).json()
    assert (page["limit"], page["offset"], page["total"]) == (2, 0, 3)
    assert [u["username"] for u in page["items"]] == ["admin", "alice"]
    assert page["next_cursor"] is not None


async def walk(client: httpx.AsyncClient, path: str, key: str, limit: int) -> list[list[str]]:
    """Every page of a list by its cursor: the keys of each page's rows."""
    pages: list[list[str]] = []
    params: dict[str, str | int] = {"limit": limit}
    while True:
        resp = await client.get(path, params=params)
        assert resp.status_code == 200, resp.text
        pages.append([row[key] for row in resp.json()["items"]])
        if resp.json()["next_cursor"] is None:
            return pages
        params["cursor"] = resp.json()["next_cursor"]


async def test_users_and_clients_are_walked_to_their_end_by_cursor(client: httpx.AsyncClient) -> None:
    for n in range(4):
        body = {"username": f"walker-{n}", "email": f"walker{n}@example.com", "password": "Sturdy-pass-1"}
        assert (await client.post("/accounts", json=body)).status_code == 201
        made = await client.post("/clients", json={"name": f"P{n}", "scopes": ["erp"], "client_id": f"partner-{n}"})
        assert made.status_code == 201
    users = await walk(client, "/accounts", "username", 2)
    assert users == [["admin", "alice"], ["olivia", "walker-0"], ["walker-1", "walker-2"], ["walker-3"]]
    clients = await walk(client, "/clients", "client_id", 3)
    assert clients == [["partner-0", "partner-1", "partner-2"], ["partner-3"]]
    # A user who signs up behind the walk's position is not seen twice, nor shifts the next page.
    first = (await client.get("/accounts", params={"limit": 2})).json()
    body = {"username": "aaron", "email": "aaron@example.com", "password": "Sturdy-pass-1"}
    assert (await client.post("/accounts", json=body)).status_code == 201
    second = (await client.get("/accounts", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [u["username"] for u in second["items"]] == ["olivia", "walker-0"]


@pytest.mark.parametrize("path", ["/accounts", "/clients"])
async def test_a_cursor_not_given_out_by_the_list_is_422(client: httpx.AsyncClient, path: str) -> None:
    users_cursor = (await client.get("/accounts", params={"limit": 1})).json()["next_cursor"]
    for bad in (
        "not-a-cursor",
        "eyJ2IjoxfQ",
        users_cursor if path == "/clients" else "eyJ2IjoxLCJsIjoidXNlcnMiLCJrIjoxfQ",
    ):
        resp = await client.get(path, params={"cursor": bad})
        assert (resp.status_code, resp.json()["type"]) == (422, "InvalidCursor"), bad


async def test_clients_are_created_rotated_and_listed(client: httpx.AsyncClient) -> None:
    created = await client.post("/clients", json={"name": "Carrier Swift", "scopes": ["carrier"]})
    assert created.status_code == 201, created.text
    credentials = created.json()
    form = {"grant_type": "client_credentials", "client_id": credentials["client_id"]}
    ok = await client.post("/token", data={**form, "client_secret": credentials["client_secret"]})
    assert (ok.status_code, ok.json()["scope"]) == (200, "carrier")

    rotated = (await client.post(f"/clients/{credentials['client_id']}/rotate")).json()
    assert rotated["client_secret"] != credentials["client_secret"]
    old = await client.post("/token", data={**form, "client_secret": credentials["client_secret"]})
    assert (old.status_code, old.json()["type"]) == (401, "InvalidClient")
    assert (await client.post("/token", data={**form, "client_secret": rotated["client_secret"]})).status_code == 200

    page = (await client.get("/clients")).json()
    assert (page["total"], page["next_cursor"]) == (1, None)
    listed = page["items"]
    assert [c["client_id"] for c in listed] == [credentials["client_id"]]
    assert "client_secret" not in listed[0]
    assert "secret_hash" not in listed[0]
    dup = await client.post("/clients", json={"name": "x", "scopes": ["erp"], "client_id": credentials["client_id"]})
    assert (dup.status_code, dup.json()["type"]) == (409, "ClientIdTaken")
    assert (await client.post("/clients/nope/rotate")).status_code == 404
    assert (await client.post("/clients", json={"name": "x", "scopes": ["Has Space"]})).status_code == 422


async def test_two_refreshes_racing_with_one_token_let_one_win(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("identity")
    async with committing_client(create_app, "identity", url) as client:
        await register(client, username="racer", password="Racer-pass-1")
        tokens = await login(client, "racer", "Racer-pass-1")
        answers = await asyncio.gather(*(refresh(client, tokens["refresh_token"]) for _ in range(4)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 401, 401, 401], [a.text for a in answers]
        assert {a.json()["type"] for a in answers if a.status_code == 401} == {"RefreshTokenReused"}
        assert not await active(client, sid(tokens))
