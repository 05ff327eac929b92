"""The gateway records every call through its outbox: never waiting, never losing one, in order.

The gateway runs with its lifespan (so its audit trail runs) on a real
``paklog_gateway``-shaped database; the audit service runs over ASGI as its
writer role behind a switch that makes it unreachable (``ConnectError``,
what a stopped service gives) while a test wants it down.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from common.db import create_engine
from common.http import create_http_client
from common.security import TokenIssuer
from common.settings import ServiceSettings
from gateway.app import create_app as gateway_app
from gateway.audit.trail import AuditTrail
from gateway.clients import ServiceClients
from gateway.settings import GatewaySettings
from services.audit.app import create_app as audit_app
from services.audit.settings import AuditSettings
from services.audit.verify import verify_database
from tests.conftest import FreshDatabase
from tests.services.audit.conftest import AuditDb
from tests.support import free_port, service_credential

SECRET = secrets.token_urlsafe(48)
ISSUER = TokenIssuer(secret=SECRET)
PASSWORD = "correct-horse-battery-staple"
ISSUED_TOKEN = "eyJ.identity-issued.token-value"


def bearer(username: str, role: str) -> dict[str, str]:
    token = ISSUER.issue(username=username, user_id=f"u-{username}", role=role, email=f"{username}@x.io", name=username)
    return {"Authorization": f"Bearer {token}"}


ALICE, OLIVIA = bearer("alice", "customer"), bearer("olivia", "operator")


class Backends(httpx.AsyncBaseTransport):
    """The gateway's view of the services: the audit service (switchable), identity and orders canned."""

    def __init__(self, audit: FastAPI) -> None:
        self.audit = httpx.ASGITransport(app=audit)
        self.audit_up = True
        #: (host, path, X-Request-ID) of every call the gateway made.
        self.calls: list[tuple[str, str, str | None]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.url.host, request.url.path, request.headers.get("X-Request-ID")))
        if request.url.host == "audit":
            if not self.audit_up:
                raise httpx.ConnectError("audit service is down", request=request)
            return await self.audit.handle_async_request(request)
        if request.url.path == "/token":
            return httpx.Response(200, json={"access_token": ISSUED_TOKEN, "token_type": "bearer", "expires_in": 60})
        if request.url.path.startswith("/orders/"):  # bob's order: alice is told there is none
            order = {"order_id": request.url.path.rsplit("/", 1)[1], "customer_id": "bob", "status": "PENDING"}
            return httpx.Response(200, json={**order, "lines": [], "total_cents": 0, "currency": "EUR"})
        if request.url.path == "/payments":
            return httpx.Response(200, json=[])
        return httpx.Response(404, json={"type": "NotFound", "detail": "no such thing"})


@pytest.fixture
async def backends(audit_db: AuditDb) -> AsyncIterator[Backends]:
    settings = AuditSettings(service="audit", database_url=audit_db.writer_url, environment="test")
    app = audit_app(settings)
    engine = create_engine(audit_db.writer_url, pool_size=2)
    app.state.engine = engine
    app.state.sessionmaker = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    try:
        yield Backends(app)
    finally:
        await engine.dispose()


@pytest.fixture
async def gateway_db(fresh_database: FreshDatabase) -> str:
    return await fresh_database("gateway")


Gateway = tuple[httpx.AsyncClient, AuditTrail]


@pytest.fixture
def start_gateway(backends: Backends, gateway_db: str) -> Callable[..., Any]:
    @asynccontextmanager
    async def start(database_url: str = gateway_db, **overrides: Any) -> AsyncIterator[Gateway]:
        settings = GatewaySettings(
            jwt_secret=SECRET,
            environment="test",
            gateway_database_url=database_url,
            audit_url="http://audit",
            identity_url="http://identity",
            orders_url="http://orders",
            audit_flush_seconds=0.05,
            audit_retry_max_seconds=0.2,
            **overrides,
        )
        app = gateway_app(settings, temporal=cast(Client, object()))
        # The pooled client every process uses (it sends X-Request-ID), over the canned backends.
        async with create_http_client(transport=backends) as services:  # closed after the lifespan's last drain
            async with app.router.lifespan_context(app):
                app.state.clients = ServiceClients(services, settings)
                trail: AuditTrail = app.state.audit
                trail.http = services
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
                    yield http, trail

    return start


async def stored(audit_db: AuditDb) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(audit_db.writer_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        return [dict(row) for row in await conn.fetch("SELECT * FROM audit_records ORDER BY seq")]
    finally:
        await conn.close()


async def eventually(check: Callable[[], Any], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.05)


def keyed(body: bytes) -> str:
    return hmac.new(GatewaySettings().resolved_digest_key(), body, hashlib.sha256).hexdigest()


async def test_a_call_is_recorded_with_digests_and_no_secret(
    start_gateway: Callable[..., Any], audit_db: AuditDb
) -> None:
    async with start_gateway() as (http, _):
        login = await http.post(
            "/api/auth/token",
            data={"username": "olivia", "password": PASSWORD},
            headers={"X-Request-ID": "login-1"},
        )
        assert login.status_code == 200, login.text
        read = await http.get("/api/orders/o-77", headers=ALICE)
        assert read.status_code == 404
        await eventually(lambda: _count_is(audit_db, 2))

    records = await stored(audit_db)
    assert [r["route"] for r in records] == ["/api/auth/token", "/api/orders/{order_id}"]
    first, second = records
    assert (first["method"], first["path"], first["status"], first["request_id"]) == (
        "POST",
        "/api/auth/token",
        200,
        "login-1",
    )
    assert first["actor"] is None  # no token was presented; the form's username is not the verified caller
    assert first["request_digest"] == keyed(login.request.content)
    assert first["response_digest"] == keyed(login.content)
    assert (second["actor"], second["actor_id"], second["role"], second["client"]) == (
        "alice",
        "u-alice",
        "customer",
        None,
    )
    assert (second["order_id"], second["workflow_id"], second["status"]) == ("o-77", "order-o-77", 404)
    assert second["request_id"] == read.headers["X-Request-ID"]
    assert second["request_digest"] is None
    # Nothing secret anywhere in the trail: not the password, not the issued token, not the bearer token.
    everything = json.dumps(records, default=str)
    for secret in (PASSWORD, ISSUED_TOKEN, ALICE["Authorization"].split()[1], "Bearer"):
        assert secret not in everything
    assert (await verify_database(audit_db.writer_url)).count == 2


async def _count_is(audit_db: AuditDb, count: int) -> bool:
    return len(await stored(audit_db)) == count


async def test_audit_down_while_100_calls_are_made_loses_none_and_keeps_their_order(
    start_gateway: Callable[..., Any], backends: Backends, audit_db: AuditDb
) -> None:
    backends.audit_up = False
    async with start_gateway() as (http, trail):
        slowest = 0.0
        for n in range(100):
            started = time.monotonic()
            resp = await http.get("/api/auth/me", headers={**OLIVIA, "X-Request-ID": f"call-{n:03}"})
            slowest = max(slowest, time.monotonic() - started)
            assert resp.status_code == 200
        assert slowest < 1.0  # recording never made a call wait for the audit service

        async def all_in_outbox() -> bool:
            return int(await trail.outbox_size()) == 100

        await eventually(all_in_outbox)
        await asyncio.sleep(0.5)  # the drainer keeps retrying meanwhile
        assert await stored(audit_db) == []
        assert await trail.outbox_size() == 100

        backends.audit_up = True
        await eventually(lambda: _count_is(audit_db, 100))

        async def outbox_empty() -> bool:
            return int(await trail.outbox_size()) == 0

        await eventually(outbox_empty)

    records = await stored(audit_db)
    assert [r["request_id"] for r in records] == [f"call-{n:03}" for n in range(100)]
    assert [r["seq"] for r in records] == list(range(1, 101))
    assert {(r["actor"], r["route"], r["status"]) for r in records} == {("olivia", "/api/auth/me", 200)}
    verdict = await verify_database(audit_db.writer_url)
    assert (verdict.broken, verdict.count) == (None, 100)


async def test_the_outbox_survives_a_gateway_restart(
    start_gateway: Callable[..., Any], backends: Backends, audit_db: AuditDb, gateway_db: str
) -> None:
    backends.audit_up = False
    async with start_gateway() as (http, _):
        for n in range(20):
            assert (
                await http.get("/api/auth/me", headers={**ALICE, "X-Request-ID": f"before-{n:02}"})
            ).status_code == 200
    # Stopped gracefully while the audit service was down: the records wait in the gateway's database.
    conn = await asyncpg.connect(gateway_db.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        assert await conn.fetchval("SELECT count(*) FROM audit_outbox") == 20
    finally:
        await conn.close()

    backends.audit_up = True
    async with start_gateway() as (http, _):
        assert (await http.get("/api/auth/me", headers={**ALICE, "X-Request-ID": "after"})).status_code == 200
        await eventually(lambda: _count_is(audit_db, 21))
    assert [r["request_id"] for r in await stored(audit_db)] == [*(f"before-{n:02}" for n in range(20)), "after"]


async def test_without_its_outbox_database_the_gateway_serves_and_counts_what_it_drops(
    start_gateway: Callable[..., Any], gateway_db: str
) -> None:
    nowhere = gateway_db.rsplit("@", 1)[0] + f"@127.0.0.1:{free_port()}/paklog_gateway"
    async with start_gateway(database_url=nowhere, audit_memory_limit=5) as (http, trail):
        for _ in range(8):
            started = time.monotonic()
            assert (await http.get("/api/auth/me", headers=ALICE)).status_code == 200
            assert time.monotonic() - started < 1.0
        assert (len(trail.pending), trail.dropped) == (5, 3)


async def test_the_trail_is_for_operators(start_gateway: Callable[..., Any], audit_db: AuditDb) -> None:
    partner = bearer("erp", "partner")
    async with start_gateway() as (http, _):
        assert (await http.get("/api/auth/me", headers=ALICE)).status_code == 200
        assert (await http.get("/api/audit")).status_code == 401
        customer = await http.get("/api/audit", headers=ALICE)
        assert (customer.status_code, customer.json()["type"]) == (403, "StaffOnly")
        assert (await http.get("/api/audit", headers=partner)).status_code == 403
        bad_queries = (
            {"since": "2026-01-01T00:00:00"},  # no zone
            {"until": "0.5"},  # a number would be read as a Unix timestamp
            {"limit": 0},
            {"limit": 201},
            {"path": "api"},
            {"actor": ""},
        )
        for bad in bad_queries:
            resp = await http.get("/api/audit", params=bad, headers=OLIVIA)
            assert (resp.status_code, resp.json()["type"]) == (422, "ValidationError"), bad
        reversed_window = {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
        assert (await http.get("/api/audit", params=reversed_window, headers=OLIVIA)).status_code == 422
        await eventually(lambda: _count_is(audit_db, 11))

        page = await http.get("/api/audit", params={"actor": "alice", "limit": 5}, headers=OLIVIA)
        assert page.status_code == 200, page.text
        body = page.json()
        assert (body["total"], body["limit"], body["offset"]) == (2, 5, 0)
        assert [i["status"] for i in body["items"]] == [403, 200]  # newest first
        assert {i["actor"] for i in body["items"]} == {"alice"}
        partners = (await http.get("/api/audit", params={"actor": "erp"}, headers=OLIVIA)).json()["items"]
        assert [(i["client"], i["role"], i["status"]) for i in partners] == [("erp", "partner", 403)]
        mine = (await http.get("/api/audit", params={"path": "/api/auth/me"}, headers=OLIVIA)).json()
        assert mine["total"] == 1


async def test_the_trail_is_walked_by_cursor_through_the_gateway(
    start_gateway: Callable[..., Any], audit_db: AuditDb
) -> None:
    async with start_gateway() as (http, _):
        for _ in range(5):
            assert (await http.get("/api/auth/me", headers=ALICE)).status_code == 200
        await eventually(lambda: _count_is(audit_db, 5))
        seqs: list[list[int]] = []
        params: dict[str, Any] = {"actor": "alice", "path": "/api/auth/me", "limit": 2}
        while True:
            page = await http.get("/api/audit", params=params, headers=OLIVIA)
            assert page.status_code == 200, page.text
            seqs.append([i["seq"] for i in page.json()["items"]])
            if page.json()["next_cursor"] is None:
                break
            params["cursor"] = page.json()["next_cursor"]
        assert [len(p) for p in seqs] == [2, 2, 1]
        flat = [s for p in seqs for s in p]
        assert flat == sorted(flat, reverse=True)
        assert len(set(flat)) == 5
        for bad in ("not-a-cursor", "eyJ2IjoxfQ"):
            resp = await http.get("/api/audit", params={"cursor": bad}, headers=OLIVIA)
            assert (resp.status_code, resp.json()["type"]) == (422, "InvalidCursor"), bad
        malformed = await http.get("/api/audit", params={"cursor": "not base64!"}, headers=OLIVIA)
        assert (malformed.status_code, malformed.json()["type"]) == (422, "ValidationError")


async def test_operators_read_the_exception_log_and_the_request_id_reaches_the_service(
    start_gateway: Callable[..., Any], backends: Backends
) -> None:
    stored_batch = {
        "items": [
            {
                "at": "2026-12-01T10:00:00+00:00",
                "service": "orders",
                "host": "h",
                "pid": 7,
                "logger": "paklog.http",
                "level": "ERROR",
                "type": "builtins.KeyError",
                "message": "unhandled error: 'sku'",
                "stack": "Traceback ...",
                "request_id": "rid-of-a-500",
                "fingerprint": "cd" * 16,
                "count": 3,
            }
        ]
    }
    resp = await backends.audit.handle_async_request(
        httpx.Request(
            "POST", "http://audit/exceptions", json=stored_batch, headers=service_credential(ServiceSettings())
        )
    )
    assert resp.status_code == 200
    async with start_gateway() as (http, _):
        assert (await http.get("/api/admin/exceptions")).status_code == 401
        customer = await http.get("/api/admin/exceptions", headers=ALICE)
        assert (customer.status_code, customer.json()["type"]) == (403, "StaffOnly")
        bad = await http.get("/api/admin/exceptions", params={"since": "yesterday"}, headers=OLIVIA)
        assert (bad.status_code, bad.json()["type"]) == (422, "ValidationError")
        page = await http.get(
            "/api/admin/exceptions",
            params={"request_id": "rid-of-a-500"},
            headers={**OLIVIA, "X-Request-ID": "rid-operator-look"},
        )
    assert page.status_code == 200, page.text
    [row] = page.json()["items"]
    assert (row["service"], row["type"], row["count"], row["stack"]) == (
        "orders",
        "builtins.KeyError",
        3,
        "Traceback ...",
    )
    # The gateway's call to the audit service carried the operator's request id.
    assert ("audit", "/exceptions", "rid-operator-look") in backends.calls
