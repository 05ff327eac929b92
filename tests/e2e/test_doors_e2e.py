"""The doors of issue 11 on the live platform: services locked, orders paged stably, logins throttled."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from common.service_auth import SERVICE_TOKEN_HEADER, service_headers
from common.settings import SERVICE_NAMES
from paklog.platform import LocalPlatform
from tests.e2e.conftest import login
from tests.e2e.test_orders_e2e import order_body, place, settle

pytestmark = pytest.mark.e2e

# A read per service that answered anyone before the lock (and a write where one is cheap to try).
DOORS: dict[str, list[tuple[str, str]]] = {
    "identity": [("GET", "/users"), ("POST", "/token")],
    "orders": [("GET", "/orders"), ("POST", "/orders/x/cancel")],
    "inventory": [("GET", "/products"), ("PUT", "/products/MUG-RED")],
    "payments": [("GET", "/payments")],
    "notifications": [("GET", "/messages")],
    "warehouse": [("GET", "/waves"), ("POST", "/backlog/x/withdraw")],
    "shipping": [("GET", "/shipments"), ("POST", "/shipments/x/void")],
    "audit": [("GET", "/records"), ("POST", "/records")],
}


async def test_every_service_refuses_a_call_without_the_service_token(
    platform: LocalPlatform, services: httpx.AsyncClient
) -> None:
    assert set(DOORS) == set(SERVICE_NAMES)
    async with httpx.AsyncClient(timeout=30) as stranger:
        for name, doors in DOORS.items():
            base = platform.service_url(name)
            for method, path in doors:
                for headers, error_type in (
                    ({}, "MissingServiceCredential"),
                    ({SERVICE_TOKEN_HEADER: "guessed-" + uuid.uuid4().hex}, "InvalidServiceCredential"),
                ):
                    resp = await stranger.request(method, f"{base}{path}", headers=headers, data={"username": "x"})
                    assert resp.status_code == 401, (name, method, path, resp.text)
                    assert resp.json()["type"] == error_type
                    assert "WWW-Authenticate" in resp.headers
            assert (await stranger.get(f"{base}/openapi.json")).status_code == 401
            health = await stranger.get(f"{base}/healthz")
            assert (health.status_code, health.json()) == (200, {"status": "ok"})
    # Nothing changed behind the locked door, and the platform's own callers still get in.
    product = await services.get(f"{platform.service_url('inventory')}/products/MUG-RED")
    assert product.status_code == 200
    assert (await services.get(f"{platform.service_url('orders')}/orders", params={"limit": 1})).status_code == 200
    assert service_headers(platform.service_token) == {SERVICE_TOKEN_HEADER: platform.service_token}


async def walk(http: httpx.AsyncClient, *, limit: int) -> list[str]:
    """Every order id the caller sees, page by page with the cursor."""
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": limit}
    while True:
        page = (await http.get("/api/orders", params=params)).json()
        seen += [o["order_id"] for o in page["items"]]
        if page["next_cursor"] is None:
            return seen
        params = {"limit": limit, "cursor": page["next_cursor"]}


@pytest.mark.timeout(300)
async def test_walking_orders_by_cursor_sees_each_once_while_orders_are_placed(
    platform: LocalPlatform, alice: httpx.AsyncClient, olivia: httpx.AsyncClient
) -> None:
    for _ in range(5):  # enough history for several pages even when this test runs alone
        await settle(alice, await place(alice, order_body(("PEN-BLK", 1))))
    before = set(await walk(olivia, limit=200))  # nothing is being placed yet

    stop = asyncio.Event()
    placed: list[str] = []

    async def keep_placing() -> None:
        while not stop.is_set():
            placed.append(await place(alice, order_body(("PEN-BLK", 1))))
            await asyncio.sleep(0.05)

    placer = asyncio.create_task(keep_placing())
    seen: list[str] = []
    pages = 0
    try:
        params: dict[str, str | int] = {"limit": 2}
        while True:
            resp = await olivia.get("/api/orders", params=params)
            assert resp.status_code == 200, resp.text
            page = resp.json()
            seen += [o["order_id"] for o in page["items"]]
            pages += 1
            if page["next_cursor"] is None:
                break
            params = {"limit": 2, "cursor": page["next_cursor"]}
            await asyncio.sleep(0.05)  # let the placer land orders between pages
    finally:
        stop.set()
        await placer
    assert placed, "no order was placed during the walk"
    assert pages > 2
    duplicates = sorted({o for o in seen if seen.count(o) > 1})
    assert not duplicates, f"{len(duplicates)} orders seen twice: {duplicates[:10]}"
    assert before <= set(seen), f"missed: {sorted(before - set(seen))[:10]}"
    for order_id in placed:
        await settle(alice, order_id)


async def _new_user(platform: LocalPlatform, services: httpx.AsyncClient) -> tuple[str, str]:
    admin = await login(platform, "admin", "admin-pass")
    try:
        username, password = f"throttled{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
        created = await services.post(
            f"{platform.service_url('identity')}/users",
            json={
                "username": username,
                "email": f"{username}@example.com",
                "full_name": "Throttled",
                "password": password,
                "role": "customer",
            },
            headers={"Authorization": admin.headers["Authorization"]},
        )
        assert created.status_code == 201, created.text
        return username, password
    finally:
        await admin.aclose()


async def test_hammering_one_username_is_throttled_while_others_log_in_fast(
    platform: LocalPlatform, services: httpx.AsyncClient
) -> None:
    username, password = await _new_user(platform, services)
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=30) as http:
        statuses = []
        for i in range(12):
            resp = await http.post("/api/auth/token", data={"username": username, "password": f"guess-{i}"})
            statuses.append(resp.status_code)
        # The default: ten failed logins per username per minute, then 429 without asking identity.
        assert statuses == [401] * 10 + [429] * 2
        assert resp.json()["type"] == "RateLimited"
        assert 1 <= int(resp.headers["Retry-After"]) <= 60
        # The right password waits too (the guesser cannot tell it from a wrong one) ...
        locked = await http.post("/api/auth/token", data={"username": username, "password": password})
        assert locked.status_code == 429
        # ... while another user, from the same address, logs in at once.
        started = time.monotonic()
        other = await http.post("/api/auth/token", data={"username": "olivia", "password": "olivia-pass"})
        assert other.status_code == 200, other.text
        assert time.monotonic() - started < 2.0
