"""Every service endpoint, fed hostile input built from the service's own OpenAPI document.

NUL bytes, lone surrogates, huge integers, wrong types and very long strings
in every parameter and every JSON leaf, one at a time, over ASGI against the
service's real (rolled back) database: never a 5xx; text the database cannot
store is a 422 ``ValidationError``; and a refused request changes no row.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from common.settings import ServiceSettings
from services.identity.app import create_app as identity_app
from services.identity.seed import seed as seed_identity
from services.inventory.app import create_app as inventory_app
from services.inventory.seed import seed as seed_inventory
from services.notifications.app import create_app as notifications_app
from services.orders.app import create_app as orders_app
from services.payments.app import create_app as payments_app
from tests.conftest import ServiceDatabases
from tests.fuzz import UNSTORABLE, FuzzRequest, operations, requests_for
from tests.support import rolled_back_client

APPS: dict[str, Callable[[ServiceSettings], FastAPI]] = {
    "identity": identity_app,
    "inventory": inventory_app,
    "notifications": notifications_app,
    "orders": orders_app,
    "payments": payments_app,
}
# Each service's share of the fuzz run's minute.
BUDGET_SECONDS = 12


async def snapshot(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """A digest of every row of every table (the test database is small)."""
    async with sessions() as session:
        connection = await session.connection()
        tables = (
            await connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"))
        ).scalars()
        digests = {}
        for table in list(tables):
            digest = text(f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM \"{table}\" t")
            digests[table] = (await connection.execute(digest)).scalar_one()
    return digests


async def fuzz(
    http: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    service: str,
    budget_seconds: float,
    on_answer: Callable[[str, FuzzRequest, httpx.Response], None] | None = None,
) -> int:
    """Send every hostile request the app's OpenAPI document yields; the number sent.

    Never a 5xx; text the database cannot store is a 422 ``ValidationError``; a
    refused request changes no row. Each request has an ``Idempotency-Key`` of
    its own: one key for all would answer ``IdempotencyKeyReused`` from the
    second request on, before the work (and the database) saw the hostile value.
    ``on_answer(template, request, response)`` may check more.
    """
    document = (await http.get("/openapi.json")).json()
    deadline = time.monotonic() + budget_seconds
    state = await snapshot(sessions)
    sent = 0
    for method, template, operation in operations(document):
        for request in requests_for(document, method, template, operation):
            if request.headers.get("Idempotency-Key") == "fuzz-value":
                request.headers["Idempotency-Key"] = f"fuzz-{sent}"
            assert time.monotonic() < deadline, f"fuzzing {service} took over {budget_seconds} s ({sent} sent)"
            resp: httpx.Response = await request.send(http)
            sent += 1
            assert resp.status_code < 500, f"{request.describe()}: {resp.status_code} {resp.text[:300]}"
            if request.kind in UNSTORABLE:
                assert resp.status_code == 422, f"{request.describe()}: {resp.status_code} {resp.text[:300]}"
                assert resp.json()["type"] == "ValidationError"
            if on_answer is not None:
                on_answer(template, request, resp)
            if method == "GET":
                continue
            after = await snapshot(sessions)
            if resp.status_code >= 400:
                assert after == state, f"{request.describe()} was refused ({resp.status_code}) but changed rows"
            state = after
    return sent


@pytest.fixture
def database_url(request: pytest.FixtureRequest, service_databases: ServiceDatabases) -> str:
    service: str = request.param
    return service_databases[service]


@pytest.mark.parametrize(("service", "database_url"), [(s, s) for s in sorted(APPS)], indirect=["database_url"])
async def test_hostile_input_never_5xx_and_changes_nothing(service: str, database_url: str) -> None:
    async with rolled_back_client(APPS[service], service, database_url) as (http, sessions):
        async with sessions() as session:
            if service == "identity":
                await seed_identity(session)
            if service == "inventory":
                await seed_inventory(session)
            await session.commit()
        if service == "identity":
            login = await http.post("/token", data={"username": "admin", "password": "admin-pass"})
            assert login.status_code == 200, login.text
            http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        sent = await fuzz(http, sessions, service, BUDGET_SECONDS)
        assert sent > 50
