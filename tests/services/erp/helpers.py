"""The ERP stand-in under test: its app with its lifespan (schema, seed, sender) on a database of its own."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI

from common.settings import database_url
from services.erp.app import create_app
from services.erp.settings import ErpSettings
from tests.support import service_credential

#: Small seeds keep each test's database quick to make; one test seeds the default sizes.
MATERIALS = 40
CUSTOMERS = 30
DEADLINE_SECONDS = 30.0
T = TypeVar("T")


def new_database(postgres_url: str) -> str:
    """The URL of a database nobody used yet (the stand-in creates it)."""
    return database_url(postgres_url, f"test_erp_{uuid.uuid4().hex[:10]}")


@asynccontextmanager
async def stand_in(
    database: str,
    *,
    webhook_url: str | None = None,
    token_url: str | None = None,
    materials: int = MATERIALS,
    customers: int = CUSTOMERS,
    **knobs: Any,
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """The stand-in as uvicorn runs it (its lifespan included), on ``database``, knobs set first."""
    settings = ErpSettings(
        environment="test",
        erp_database_url=database,
        erp_webhook_url=webhook_url,
        erp_token_url=token_url,
        erp_seed_materials=materials,
        erp_seed_customers=customers,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://erp", headers=service_credential()
        ) as client,
    ):
        if knobs:
            resp = await client.post("/control", json=knobs)
            assert resp.status_code == 200, resp.text
        yield client, app


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Poll ``probe`` until it returns something truthy, or fail after the deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        found = await probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def entity(client: httpx.AsyncClient, entity_set: str, key: str) -> dict[str, Any]:
    resp = await client.get(f"/odata/{entity_set}('{key}')")
    assert resp.status_code == 200, resp.text
    assert resp.headers["ETag"] == resp.json()["@odata.etag"]
    body: dict[str, Any] = resp.json()
    return body


async def change(
    client: httpx.AsyncClient, entity_set: str, key: str, body: dict[str, Any], if_match: str = "*"
) -> dict[str, Any]:
    resp = await client.patch(f"/odata/{entity_set}('{key}')", json=body, headers={"If-Match": if_match})
    assert resp.status_code == 200, resp.text
    changed: dict[str, Any] = resp.json()
    return changed


async def walk(
    client: httpx.AsyncClient, first: str, between: Callable[[int], Awaitable[None]] | None = None
) -> list[dict[str, Any]]:
    """Every entity from ``first`` on, page after page through ``@odata.nextLink``; ``between(page)`` runs after each."""
    seen: list[dict[str, Any]] = []
    link: str | None = first
    pages = 0
    while link is not None:
        resp = await client.get(link)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        seen.extend(body["value"])
        link = body.get("@odata.nextLink")
        pages += 1
        if between is not None:
            await between(pages)
    return seen


async def events(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    resp = await client.get("/events", params={"limit": 1000, **params})
    assert resp.status_code == 200, resp.text
    found: list[dict[str, Any]] = resp.json()
    return found


def sales_order(purchase_order: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "PurchaseOrderByCustomer": purchase_order,
        "CustomerEmail": "Alice@Example.com",
        "Currency": "EUR",
        "Items": [{"Material": "MUG-RED", "RequestedQuantity": 2}, {"Material": "PEN-BLK", "RequestedQuantity": 3}],
    }
    return body | overrides
