"""The identity flows on the real platform, through the gateway only (notifications read for the messages sent):
register → login → refresh → me → logout → 401; a reset by the code in the message; a reused refresh token; a
disabled user; and every identity door checked against the OpenAPI document (also run by the contract test).

Every test works on users of its own: alice, olivia and admin are only read.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
import pytest

from paklog.platform import LocalPlatform
from tests.e2e.conftest import login

pytestmark = pytest.mark.e2e

PASSWORD = "Sturdy-pass-1"


def new_account() -> dict[str, str]:
    name = f"id{uuid.uuid4().hex[:10]}"
    return {"username": name, "email": f"{name}@example.com", "password": PASSWORD}


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def token(http: httpx.AsyncClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    resp = await http.post("/api/auth/token", data={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def message_to(
    services: httpx.AsyncClient, platform: LocalPlatform, recipient: str, template: str, seconds: float = 30
) -> dict[str, Any]:
    """The message of ``template`` notifications stored for ``recipient`` (the AccountNotice workflow sent it)."""
    for _ in range(int(seconds / 0.25)):
        resp = await services.get(f"{platform.service_url('notifications')}/messages", params={"recipient": recipient})
        assert resp.status_code == 200, resp.text
        found = [m for m in resp.json() if m["template"] == template]
        if found:
            message: dict[str, Any] = found[0]
            return message
        await asyncio.sleep(0.25)
    raise AssertionError(f"no {template} message to {recipient}")


async def test_register_login_refresh_me_logout(platform: LocalPlatform, services: httpx.AsyncClient) -> None:
    account = new_account()
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=60) as http:
        created = await http.post("/api/auth/register", json=account)
        assert created.status_code == 201, created.text
        assert created.json()["role"] == "customer"
        welcome = await message_to(services, platform, account["email"], "welcome")
        assert (welcome["status"], account["username"] in welcome["body"]) == ("SENT", True)

        first = await token(http, account["username"])
        assert first["expires_in"] == 900
        second = (await http.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
        me = await http.get("/api/me", headers=bearer(second))
        assert (me.status_code, me.json()["username"]) == (200, account["username"])

        assert (await http.post("/api/auth/logout", headers=bearer(second))).status_code == 204
        after = await http.get("/api/me", headers=bearer(second))
        assert (after.status_code, after.json()["type"]) == (401, "TokenRevoked")
        refresh = await http.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]})
        assert refresh.status_code == 401


async def test_a_reset_by_the_code_in_the_message_works_once(
    platform: LocalPlatform, services: httpx.AsyncClient
) -> None:
    account = new_account()
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=60) as http:
        assert (await http.post("/api/auth/register", json=account)).status_code == 201
        session = await token(http, account["username"])
        asked = await http.post("/api/auth/password-reset", json={"email": account["email"].upper()})
        nobody = await http.post("/api/auth/password-reset", json={"email": f"nobody-{uuid.uuid4().hex}@example.com"})
        assert (asked.status_code, nobody.status_code, asked.json()) == (202, 202, nobody.json())

        message = await message_to(services, platform, account["email"], "password_reset")
        code = re.search(r"^ {4}(\S+)$", message["body"], re.MULTILINE)
        assert code is not None, message["body"]
        confirm = {"token": code.group(1), "new_password": "Reset-pass-77"}
        assert (await http.post("/api/auth/password-reset/confirm", json=confirm)).status_code == 204
        assert (await http.get("/api/me", headers=bearer(session))).status_code == 401
        await token(http, account["username"], "Reset-pass-77")
        again = await http.post("/api/auth/password-reset/confirm", json={**confirm, "new_password": "Other-pass-88"})
        assert (again.status_code, again.json()["type"]) == (400, "ResetTokenUsed")


async def test_a_reused_refresh_token_and_a_disabled_user_end_tokens_at_once(platform: LocalPlatform) -> None:
    account = new_account()
    admin = await login(platform, "admin", "admin-pass")
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=60) as http:
        user = (await http.post("/api/auth/register", json=account)).json()
        first = await token(http, account["username"])
        second = (await http.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
        reused = await http.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
        assert (reused.status_code, reused.json()["type"]) == (401, "RefreshTokenReused")
        assert (await http.get("/api/me", headers=bearer(second))).status_code == 401

        fresh = await token(http, account["username"])
        assert (await http.get("/api/orders", headers=bearer(fresh))).status_code == 200
        disabled = await admin.post(f"/api/admin/users/{user['user_id']}/disable")
        assert disabled.status_code == 200, disabled.text
        gone = await http.get("/api/orders", headers=bearer(fresh))
        assert (gone.status_code, gone.json()["type"]) == (401, "TokenRevoked")
        relogin = await http.post("/api/auth/token", data={"username": account["username"], "password": PASSWORD})
        assert (relogin.status_code, relogin.json()["type"]) == (401, "AccountDisabled")
    await admin.aclose()


async def check_identity(platform: LocalPlatform, c: Any) -> None:
    """Every identity door once against the document (``c`` is the contract test's ``Contract``)."""
    account = new_account()
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=60) as http:
        user: Any = c.check(await http.post("/api/auth/register", json=account), "/api/auth/register", 201)
        c.check(await http.post("/api/auth/register", json=account), "/api/auth/register", 409)
        c.check(
            await http.post("/api/auth/register", json={**account, "password": "weakweak"}), "/api/auth/register", 422
        )
        first: Any = c.check(
            await http.post("/api/auth/token", data={"username": account["username"], "password": PASSWORD}),
            "/api/auth/token",
            200,
        )
        tokens: Any = c.check(
            await http.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]}),
            "/api/auth/refresh",
            200,
        )
        c.check(await http.post("/api/auth/refresh", json={"refresh_token": "junk"}), "/api/auth/refresh", 401)
        mine = bearer(tokens)
        c.check(await http.get("/api/me", headers=mine), "/api/me", 200)
        c.check(await http.put("/api/me", json={"name": "Contract User"}, headers=mine), "/api/me", 200)
        c.check(await http.put("/api/me", json={"email": "admin@example.com"}, headers=mine), "/api/me", 409)
        wrong = {"current_password": "not-it", "new_password": "Another-pass-2"}
        c.check(await http.post("/api/me/password", json=wrong, headers=mine), "/api/me/password", 403)
        c.check(
            await http.post("/api/auth/password-reset", json={"email": account["email"]}),
            "/api/auth/password-reset",
            202,
        )
        junk = {"token": "junk", "new_password": "Another-pass-2"}
        c.check(await http.post("/api/auth/password-reset/confirm", json=junk), "/api/auth/password-reset/confirm", 400)
        c.check(await http.get("/api/admin/users", headers=mine), "/api/admin/users", 403)
        c.check(await http.get("/api/admin/exceptions", headers=mine), "/api/admin/exceptions", 403)
        right = {"current_password": PASSWORD, "new_password": "Another-pass-2"}
        c.check(await http.post("/api/me/password", json=right, headers=mine), "/api/me/password", 204)
        again = bearer(await token(http, account["username"], "Another-pass-2"))
        c.check(await http.post("/api/auth/logout", headers=again), "/api/auth/logout", 204)
        c.check(await http.post("/api/auth/logout", headers=again), "/api/auth/logout", 401)

        admin = bearer(await token(http, "admin", "admin-pass"))
        c.check(await http.get("/api/admin/users", headers=admin), "/api/admin/users", 200)
        who = user["user_id"]
        c.check(
            await http.post(f"/api/admin/users/{who}/disable", headers=admin), "/api/admin/users/{user_id}/disable", 200
        )
        c.check(
            await http.post(f"/api/admin/users/{who}/enable", headers=admin), "/api/admin/users/{user_id}/enable", 200
        )
        c.check(
            await http.post("/api/admin/users/nobody/enable", headers=admin), "/api/admin/users/{user_id}/enable", 404
        )
        role = "/api/admin/users/{user_id}/role"
        c.check(await http.put(f"/api/admin/users/{who}/role", json={"role": "operator"}, headers=admin), role, 200)
        c.check(await http.put(f"/api/admin/users/{who}/role", json={"role": "partner"}, headers=admin), role, 422)
        c.check(await http.get("/api/admin/clients", headers=admin), "/api/admin/clients", 200)
        errors: Any = c.check(
            await http.get("/api/admin/exceptions?limit=5", headers=admin), "/api/admin/exceptions", 200
        )
        assert len(errors["items"]) <= 5
        c.check(await http.get("/api/admin/exceptions?limit=0", headers=admin), "/api/admin/exceptions", 422)
        partner = {"name": "Contract Partner", "scopes": ["contract"]}
        created: Any = c.check(
            await http.post("/api/admin/clients", json=partner, headers=admin), "/api/admin/clients", 201
        )
        rotate = "/api/admin/clients/{client_id}/rotate"
        c.check(await http.post(f"/api/admin/clients/{created['client_id']}/rotate", headers=admin), rotate, 200)
        c.check(await http.post("/api/admin/clients/no-such-client/rotate", headers=admin), rotate, 404)


IDENTITY_PATHS = re.compile(r"^/api/(me|admin/|auth/(register|refresh|logout|password-reset))")


async def test_every_identity_door_answers_what_the_document_says(platform: LocalPlatform) -> None:
    from tests.e2e.test_gateway_contract_e2e import Contract  # that module imports this one

    async with httpx.AsyncClient(base_url=platform.gateway_url) as http:
        c = Contract((await http.get("/openapi.json")).json())
    await check_identity(platform, c)
    doors = {(method, path) for method, path in c.operations() if IDENTITY_PATHS.match(path)}
    assert len(doors) == 16
    assert doors <= c.seen, sorted(doors - c.seen)
