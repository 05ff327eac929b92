"""``GET /api/products``: the catalogue page, through the gateway to the real inventory service and its database.

Every answer is checked against the gateway's own OpenAPI document.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema_rs
import pytest

from common.security import TokenIssuer, TokenVerifier
from gateway.app import create_app
from gateway.clients import ServiceClients
from gateway.settings import GatewaySettings
from services.inventory.app import create_app as inventory_app
from tests.conftest import ServiceDatabases
from tests.support import rolled_back_client

SECRET = secrets.token_urlsafe(48)


@dataclass
class Gateway:
    http: httpx.AsyncClient
    inventory: httpx.AsyncClient
    document: dict[str, Any]

    async def get(self, path: str, status: int = 200, **params: Any) -> Any:
        """``GET`` as alice; the answer must be the status and the body the document promises."""
        resp = await self.http.get(path, params=params)
        assert resp.status_code == status, resp.text
        template = "/api/products/{sku}" if path.count("/") > 2 else "/api/products"
        responses = self.document["paths"][template]["get"]["responses"]
        schema = {
            **responses[str(status)]["content"]["application/json"]["schema"],
            "components": self.document["components"],
        }
        errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(resp.json())]
        assert not errors, f"{path} {status}: {errors}"
        return resp.json()


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["inventory"]


@pytest.fixture
async def gateway(database_url: str) -> AsyncIterator[Gateway]:
    async with rolled_back_client(inventory_app, "inventory", database_url) as (inventory, _):
        settings = GatewaySettings(jwt_secret=SECRET, inventory_url=str(inventory.base_url).rstrip("/"))
        app = create_app(settings)
        app.state.clients = ServiceClients(inventory, settings)  # the inventory app over ASGI, rolled back after
        app.state.verifier = TokenVerifier(secret=SECRET)
        token = TokenIssuer(secret=SECRET).issue(
            username="alice", user_id="u-alice", role="customer", email="alice@example.com", name="Alice"
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gw", headers={"Authorization": f"Bearer {token}"}
        ) as http:
            yield Gateway(http, inventory, app.openapi())


async def test_products_answer_a_page_and_pass_the_search(gateway: Gateway) -> None:
    token = uuid.uuid4().hex[:8].upper()
    names = ["Red mug", f"Tote {token} 100% cotton", f"Tote {token} 1000 cotton", f"Cap {token.lower()}_x"]
    for n, name in enumerate(names):
        put = await gateway.inventory.put(
            f"/products/G{token}-{n}", json={"name": name, "price_cents": 1, "on_hand": n}
        )
        assert put.status_code == 200, put.text

    found = await gateway.get("/api/products", q=token.lower())
    assert [p["sku"] for p in found["items"]] == [f"G{token}-{n}" for n in range(4)]
    assert (found["total"], found["limit"], found["offset"]) == (4, 100, 0)
    assert found["items"][3] == {
        "sku": f"G{token}-3",
        "name": f"Cap {token.lower()}_x",
        "price_cents": 1,
        "currency": "EUR",
        "on_hand": 3,
        "available": 3,
        "reserved": 0,
    }
    second = await gateway.get("/api/products", q=token, limit=1, offset=1)
    assert ([p["sku"] for p in second["items"]], second["total"], second["limit"], second["offset"]) == (
        [f"G{token}-1"],
        4,
        1,
        1,
    )
    assert [p["sku"] for p in (await gateway.get("/api/products", q=f"{token} 100%"))["items"]] == [f"G{token}-1"]
    assert [p["sku"] for p in (await gateway.get("/api/products", q=f"{token}_"))["items"]] == [f"G{token}-3"]
    everything = await gateway.get("/api/products", limit=500)
    assert everything["total"] >= 4
    assert (await gateway.get(f"/api/products/G{token}-2"))["on_hand"] == 2


@pytest.mark.parametrize("params", [{"q": ""}, {"q": "x" * 201}, {"limit": 501}, {"limit": 0}, {"offset": 10**12}])
async def test_products_page_bounds_are_the_gateways(gateway: Gateway, params: dict[str, Any]) -> None:
    body = await gateway.get("/api/products", 422, **params)
    assert body["type"] == "ValidationError"


def test_the_document_describes_the_page() -> None:
    document = create_app(GatewaySettings()).openapi()
    operation = document["paths"]["/api/products"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"q", "limit", "offset"}
    page = document["components"]["schemas"]["ProductPage"]
    assert set(page["required"]) == {"items", "total", "limit", "offset"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ProductPage")
