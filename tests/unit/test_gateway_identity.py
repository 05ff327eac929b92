"""The identity doors through the gateway, before the real identity app (rolled back after each test), with a
stand-in for Temporal that records the workflows started: register, refresh, logout, ``/api/me``, password
change and reset, administration; every answer checked against the gateway's OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema_rs
import pytest
from temporalio.service import RPCError, RPCStatusCode

from common.sealing import is_sealed, unseal
from common.security import TokenIssuer, TokenVerifier
from gateway.app import create_app
from gateway.clients import ServiceClients
from gateway.settings import GatewaySettings
from gateway.throttle import LoginThrottle
from services.identity.app import create_app as identity_app
from services.identity.seed import seed
from services.identity.settings import IdentitySettings
from tests.conftest import ServiceDatabases
from tests.support import rolled_back_client
from workflows.account_notice import AccountNoticeInput


@dataclass
class FakeTemporal:
    """Records the workflows the gateway starts; ``down`` makes every start fail as an unreachable server would."""

    started: list[tuple[str, str, Any]] = field(default_factory=list)
    down: bool = False

    async def start_workflow(self, workflow: str, arg: Any, *, id: str, task_queue: str, **_: Any) -> None:
        if self.down:
            raise RPCError("unreachable", RPCStatusCode.UNAVAILABLE, b"")
        self.started.append((workflow, id, arg))


@dataclass
class Door:
    http: httpx.AsyncClient
    temporal: FakeTemporal
    document: dict[str, Any]
    app: Any

    def check(self, resp: httpx.Response, template: str, status: int) -> Any:
        assert resp.status_code == status, resp.text
        responses = self.document["paths"][template][resp.request.method.lower()]["responses"]
        if status == 204:
            return None
        schema = {
            **responses[str(status)]["content"]["application/json"]["schema"],
            "components": self.document["components"],
        }
        errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(resp.json())]
        assert not errors, f"{template} {status}: {errors}"
        return resp.json()

    async def login(self, username: str = "alice", password: str = "alice-pass") -> dict[str, Any]:
        resp = await self.http.post("/api/auth/token", data={"username": username, "password": password})
        body: dict[str, Any] = self.check(resp, "/api/auth/token", 200)
        return body


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["identity"]


@pytest.fixture
async def door(database_url: str) -> AsyncIterator[Door]:
    async with rolled_back_client(identity_app, "identity", database_url) as (identity, sessions):
        async with sessions() as session:
            await seed(session)
        secret = IdentitySettings(environment="test").jwt_secret
        settings = GatewaySettings(jwt_secret=secret, identity_url=str(identity.base_url).rstrip("/"))
        temporal = FakeTemporal()
        app = create_app(settings, temporal=temporal)  # type: ignore[arg-type]
        app.state.clients = ServiceClients(identity, settings)
        app.state.verifier = TokenVerifier(secret=secret)
        app.state.temporal = temporal
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
            yield Door(http, temporal, app.openapi(), app)


async def test_register_makes_a_customer_and_starts_a_welcome(door: Door) -> None:
    body = {"username": "bob-buyer", "email": "bob@example.com", "password": "Sturdy-pass-1"}
    user = door.check(await door.http.post("/api/auth/register", json=body), "/api/auth/register", 201)
    assert (user["username"], user["role"], user["name"]) == ("bob-buyer", "customer", "bob-buyer")
    [(workflow, workflow_id, notice)] = door.temporal.started
    assert (workflow, workflow_id) == ("AccountNotice", f"account-notice-welcome-{user['user_id']}")
    assert notice == AccountNoticeInput(
        kind="welcome", recipient="bob@example.com", name="bob-buyer", username="bob-buyer"
    )
    await door.login("bob-buyer", "Sturdy-pass-1")

    again = await door.http.post("/api/auth/register", json={**body, "email": "other@example.com"})
    assert door.check(again, "/api/auth/register", 409)["type"] == "UsernameTaken"
    same_address = await door.http.post(
        "/api/auth/register", json={**body, "username": "bob-2", "email": "BOB@example.com"}
    )
    assert door.check(same_address, "/api/auth/register", 409)["type"] == "EmailTaken"
    for weak in ({"password": "abcdefgh"}, {"password": "short"}, {"email": "nope"}, {"role": "admin"}):
        door.check(
            await door.http.post("/api/auth/register", json={**body, "username": "bob-3", **weak}),
            "/api/auth/register",
            422,
        )
    assert len(door.temporal.started) == 1


async def test_a_registration_stands_when_temporal_is_down(door: Door) -> None:
    door.temporal.down = True
    body = {"username": "carol-c", "email": "carol@example.com", "password": "Sturdy-pass-1"}
    door.check(await door.http.post("/api/auth/register", json=body), "/api/auth/register", 201)
    await door.login("carol-c", "Sturdy-pass-1")


async def test_logout_ends_the_token_on_the_next_request(door: Door) -> None:
    tokens = await door.login()
    assert tokens["refresh_token"]
    me = door.check(await door.http.get("/api/me", headers=bearer(tokens)), "/api/me", 200)
    assert (me["username"], me["email"], me["role"]) == ("alice", "alice@example.com", "customer")
    other = await door.login()  # a second login of alice: its own session

    door.check(await door.http.post("/api/auth/logout", headers=bearer(tokens)), "/api/auth/logout", 204)
    after = await door.http.get("/api/me", headers=bearer(tokens))
    assert door.check(after, "/api/me", 401)["type"] == "TokenRevoked"
    claims_only = await door.http.get("/api/auth/me", headers=bearer(tokens))
    assert (claims_only.status_code, claims_only.json()["type"]) == (401, "TokenRevoked")
    refreshed = await door.http.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert door.check(refreshed, "/api/auth/refresh", 401)["type"] == "SessionRevoked"
    # The other session goes on.
    door.check(await door.http.get("/api/me", headers=bearer(other)), "/api/me", 200)
    assert (await door.http.post("/api/auth/logout")).status_code == 401


async def test_a_reused_refresh_token_ends_the_familys_access_tokens(door: Door) -> None:
    first = await door.login()
    second = door.check(
        await door.http.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]}),
        "/api/auth/refresh",
        200,
    )
    assert second["refresh_token"] != first["refresh_token"]
    door.check(await door.http.get("/api/me", headers=bearer(second)), "/api/me", 200)

    reused = await door.http.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert door.check(reused, "/api/auth/refresh", 401)["type"] == "RefreshTokenReused"
    for tokens in (first, second):
        resp = await door.http.get("/api/me", headers=bearer(tokens))
        assert door.check(resp, "/api/me", 401)["type"] == "TokenRevoked"
    newest = await door.http.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert newest.status_code == 401


async def test_a_disabled_user_is_401_at_once_and_only_admins_manage_users(door: Door) -> None:
    alice = await door.login()
    olivia = await door.login("olivia", "olivia-pass")
    admin = await door.login("admin", "admin-pass")
    for who in (alice, olivia):
        refused = await door.http.get("/api/admin/users", headers=bearer(who))
        assert door.check(refused, "/api/admin/users", 403)["type"] == "AdminOnly"
    page = door.check(
        await door.http.get("/api/admin/users", params={"limit": 2}, headers=bearer(admin)), "/api/admin/users", 200
    )
    assert (page["total"], page["limit"], [u["username"] for u in page["items"]]) == (3, 2, ["admin", "alice"])
    alice_id = page["items"][1]["user_id"]
    disable = await door.http.post(f"/api/admin/users/{alice_id}/disable", headers=bearer(alice))
    assert disable.status_code == 403

    disabled = door.check(
        await door.http.post(f"/api/admin/users/{alice_id}/disable", headers=bearer(admin)),
        "/api/admin/users/{user_id}/disable",
        200,
    )
    assert disabled["disabled"] is True
    assert door.check(await door.http.get("/api/me", headers=bearer(alice)), "/api/me", 401)["type"] == "TokenRevoked"
    relogin = await door.http.post("/api/auth/token", data={"username": "alice", "password": "alice-pass"})
    assert (relogin.status_code, relogin.json()["type"]) == (401, "AccountDisabled")
    door.check(
        await door.http.post(f"/api/admin/users/{alice_id}/enable", headers=bearer(admin)),
        "/api/admin/users/{user_id}/enable",
        200,
    )
    alice = await door.login()

    promoted = door.check(
        await door.http.put(f"/api/admin/users/{alice_id}/role", json={"role": "operator"}, headers=bearer(admin)),
        "/api/admin/users/{user_id}/role",
        200,
    )
    assert promoted["role"] == "operator"
    assert (await door.http.get("/api/me", headers=bearer(alice))).status_code == 401  # her token said customer
    missing = await door.http.post("/api/admin/users/nobody/disable", headers=bearer(admin))
    assert door.check(missing, "/api/admin/users/{user_id}/disable", 404)["type"] == "UnknownUser"


async def test_me_changes_its_own_profile_and_password(door: Door) -> None:
    tokens = await door.login()
    changed = door.check(
        await door.http.put("/api/me", json={"name": "Alice A.", "email": "alice@new.example"}, headers=bearer(tokens)),
        "/api/me",
        200,
    )
    assert (changed["name"], changed["email"]) == ("Alice A.", "alice@new.example")
    taken = await door.http.put("/api/me", json={"email": "OLIVIA@example.com"}, headers=bearer(tokens))
    assert door.check(taken, "/api/me", 409)["type"] == "EmailTaken"
    door.check(await door.http.put("/api/me", json={}, headers=bearer(tokens)), "/api/me", 422)

    wrong = await door.http.post(
        "/api/me/password", json={"current_password": "guess", "new_password": "New-pass-2024"}, headers=bearer(tokens)
    )
    assert door.check(wrong, "/api/me/password", 403)["type"] == "WrongPassword"
    door.check(
        await door.http.post(
            "/api/me/password",
            json={"current_password": "alice-pass", "new_password": "New-pass-2024"},
            headers=bearer(tokens),
        ),
        "/api/me/password",
        204,
    )
    assert (await door.http.get("/api/me", headers=bearer(tokens))).status_code == 401
    await door.login("alice", "New-pass-2024")


async def test_a_password_reset_sends_a_single_use_code_and_tells_nobody_who_exists(door: Door) -> None:
    tokens = await door.login()
    unknown = await door.http.post("/api/auth/password-reset", json={"email": "nobody@example.com"})
    known = await door.http.post("/api/auth/password-reset", json={"email": "alice@example.com"})
    assert door.check(unknown, "/api/auth/password-reset", 202) == door.check(known, "/api/auth/password-reset", 202)
    [(workflow, workflow_id, notice)] = door.temporal.started
    assert workflow == "AccountNotice"
    assert workflow_id.startswith("account-notice-password_reset-")
    assert (notice.kind, notice.recipient, notice.username) == ("password_reset", "alice@example.com", "alice")
    assert notice.expires_at.endswith(" UTC")
    # The code is sealed in the workflow's input (its history, the Web UI): only the worker's key opens it.
    assert is_sealed(notice.token)
    code = unseal(door.app.state.settings.service_token.get_secret_value(), notice.token)
    assert code not in notice.token

    confirm = {"token": code, "new_password": "Reset-pass-77"}
    door.check(
        await door.http.post("/api/auth/password-reset/confirm", json=confirm), "/api/auth/password-reset/confirm", 204
    )
    assert (await door.http.get("/api/me", headers=bearer(tokens))).status_code == 401
    await door.login("alice", "Reset-pass-77")
    again = await door.http.post("/api/auth/password-reset/confirm", json={**confirm, "new_password": "Other-pass-88"})
    assert door.check(again, "/api/auth/password-reset/confirm", 400)["type"] == "ResetTokenUsed"
    forged = await door.http.post("/api/auth/password-reset/confirm", json={**confirm, "token": "forged"})
    assert door.check(forged, "/api/auth/password-reset/confirm", 400)["type"] == "InvalidResetToken"


async def test_the_new_doors_are_limited_per_address_with_retry_after(door: Door) -> None:
    door.app.state.login_throttle = LoginThrottle(failures_per_username="10/minute", attempts_per_address="3/minute")
    statuses = [
        (await door.http.post("/api/auth/refresh", json={"refresh_token": f"junk-{i}"})).status_code for i in range(3)
    ]
    assert statuses == [401, 401, 401]
    for path, body in (
        ("/api/auth/refresh", {"refresh_token": "junk"}),
        ("/api/auth/register", {"username": "dave-d", "email": "dave@example.com", "password": "Sturdy-pass-1"}),
        ("/api/auth/password-reset", {"email": "alice@example.com"}),
        ("/api/auth/password-reset/confirm", {"token": "junk", "new_password": "Sturdy-pass-1"}),
    ):
        limited = await door.http.post(path, json=body)
        assert door.check(limited, path, 429)["type"] == "RateLimited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert door.temporal.started == []


async def test_wrong_current_passwords_are_throttled_per_username(door: Door) -> None:
    door.app.state.login_throttle = LoginThrottle(failures_per_username="2/minute", attempts_per_address="100/minute")
    tokens = await door.login()
    body = {"current_password": "guess", "new_password": "New-pass-2024"}
    statuses = [
        (await door.http.post("/api/me/password", json=body, headers=bearer(tokens))).status_code for _ in range(3)
    ]
    assert statuses == [403, 403, 429]


async def test_a_sessionless_persons_token_is_refused_where_sessions_are_required(door: Door) -> None:
    secret = IdentitySettings(environment="test").jwt_secret
    issuer = TokenIssuer(secret=secret)
    old = issuer.issue(username="alice", user_id="u-a", role="customer", email="a@example.com", name="Alice")
    assert (await door.http.get("/api/auth/me", headers={"Authorization": f"Bearer {old}"})).status_code == 200
    door.app.state.settings = door.app.state.settings.model_copy(update={"require_session_claim": True})
    refused = await door.http.get("/api/auth/me", headers={"Authorization": f"Bearer {old}"})
    assert (refused.status_code, refused.json()["type"]) == (401, "InvalidToken")
    fresh = await door.login()
    assert (await door.http.get("/api/auth/me", headers=bearer(fresh))).status_code == 200
    # A session that identity never opened is as dead as a revoked one.
    forged = issuer.issue(
        username="alice", user_id="u-a", role="customer", email="a@example.com", name="A", session_id="x"
    )
    assert (await door.http.get("/api/auth/me", headers={"Authorization": f"Bearer {forged}"})).json()[
        "type"
    ] == "TokenRevoked"


async def test_admins_create_and_rotate_partner_clients(door: Door) -> None:
    admin = bearer(await door.login("admin", "admin-pass"))
    created = door.check(
        await door.http.post(
            "/api/admin/clients", json={"name": "Carrier Swift", "scopes": ["carrier"]}, headers=admin
        ),
        "/api/admin/clients",
        201,
    )
    form = {"grant_type": "client_credentials", "client_id": created["client_id"]}
    ok = await door.http.post("/api/auth/token", data={**form, "client_secret": created["client_secret"]})
    assert (ok.status_code, ok.json()["scope"]) == (200, "carrier")
    rotated = door.check(
        await door.http.post(f"/api/admin/clients/{created['client_id']}/rotate", headers=admin),
        "/api/admin/clients/{client_id}/rotate",
        200,
    )
    old = await door.http.post("/api/auth/token", data={**form, "client_secret": created["client_secret"]})
    assert (old.status_code, old.json()["type"]) == (401, "InvalidClient")
    assert (
        await door.http.post("/api/auth/token", data={**form, "client_secret": rotated["client_secret"]})
    ).status_code == 200
    listed = door.check(await door.http.get("/api/admin/clients", headers=admin), "/api/admin/clients", 200)
    assert [c["client_id"] for c in listed["items"]] == [created["client_id"]]
    assert (listed["total"], listed["next_cursor"]) == (1, None)
    customer = bearer(await door.login())
    assert (
        await door.http.post("/api/admin/clients", json={"name": "x", "scopes": ["erp"]}, headers=customer)
    ).status_code == 403


async def walk(door: Door, template: str, headers: dict[str, str], key: str, limit: int) -> list[list[str]]:
    """Every page of an admin list by its cursor, each answer checked against the document."""
    pages: list[list[str]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        page = door.check(await door.http.get(template, params=params, headers=headers), template, 200)
        pages.append([row[key] for row in page["items"]])
        if page["next_cursor"] is None:
            return pages
        params["cursor"] = page["next_cursor"]


async def test_admins_walk_users_and_clients_by_cursor_and_a_bad_cursor_is_422(door: Door) -> None:
    admin = bearer(await door.login("admin", "admin-pass"))
    for n in range(3):
        made = await door.http.post(
            "/api/admin/clients", json={"name": f"P{n}", "scopes": ["erp"], "client_id": f"partner-{n}"}, headers=admin
        )
        door.check(made, "/api/admin/clients", 201)
    users = await walk(door, "/api/admin/users", admin, "username", 2)
    assert users == [["admin", "alice"], ["olivia"]]
    clients = await walk(door, "/api/admin/clients", admin, "client_id", 2)
    assert clients == [["partner-0", "partner-1"], ["partner-2"]]
    users_cursor = (await door.http.get("/api/admin/users", params={"limit": 1}, headers=admin)).json()["next_cursor"]
    for template, bad in (
        ("/api/admin/users", "not-a-cursor"),
        ("/api/admin/clients", "eyJ2IjoxfQ"),
        ("/api/admin/clients", users_cursor),  # another list's cursor
    ):
        resp = await door.http.get(template, params={"cursor": bad}, headers=admin)
        assert door.check(resp, template, 422)["type"] == "InvalidCursor", (template, bad)
    malformed = await door.http.get("/api/admin/users", params={"cursor": "has space"}, headers=admin)
    assert door.check(malformed, "/api/admin/users", 422)["type"] == "ValidationError"
