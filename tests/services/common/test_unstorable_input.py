"""Text the database cannot store is refused at the door; text it can store (emoji, a literal ``\\u0000``) is kept.

Over the orders service's real app and (rolled back) database; plus the
handler that answers a value the database itself refuses with a 422.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import TextClause, text

from common.db import SessionDep
from common.service_app import create_service_app
from common.settings import ServiceSettings
from services.orders.app import create_app
from tests.conftest import ServiceDatabases
from tests.support import rolled_back_client, service_credential


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["orders"]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(create_app, "orders", database_url) as (http, _):
        yield http


def order(name: str, **overrides: Any) -> dict[str, Any]:
    return {
        "order_id": f"edge-{uuid.uuid4().hex[:12]}",
        "customer_id": "alice",
        "customer_email": "alice@example.com",
        "currency": "EUR",
        "lines": [{"sku": "MUG-RED", "quantity": 1, "unit_price_cents": 1200}],
        "shipping_address": {
            "name": name,
            "line1": "1 Street",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
        **overrides,
    }


async def post_raw(http: httpx.AsyncClient, raw: str) -> httpx.Response:
    return await http.post("/orders", content=raw.encode(), headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    "name_json",
    [r'"A\u0000B"', r'"A\ud800B"', r'"A\udc00"', r'"\\\u0000"', r'"A\uD83D"'],
    ids=["nul-escape", "lone-high", "lone-low", "escaped-backslash-then-nul", "upper-case-high"],
)
async def test_unstorable_json_text_is_422_and_nothing_is_stored(client: httpx.AsyncClient, name_json: str) -> None:
    body = order("placeholder")
    raw = json.dumps(body).replace('"placeholder"', name_json)
    resp = await post_raw(client, raw)
    assert resp.status_code == 422, resp.text
    assert resp.json()["type"] == "ValidationError"
    assert (await client.get(f"/orders/{body['order_id']}")).status_code == 404


@pytest.mark.parametrize(
    ("name_json", "stored"),
    [(r'"Mo \ud83d\ude00"', "Mo \U0001f600"), (r'"C:\\u0000"', "C:\\u0000"), ('"Zoë"', "Zoë")],
    ids=["surrogate-pair", "escaped-backslash", "plain-utf8"],
)
async def test_storable_text_is_kept(client: httpx.AsyncClient, name_json: str, stored: str) -> None:
    body = order("placeholder")
    resp = await post_raw(client, json.dumps(body).replace('"placeholder"', name_json))
    assert resp.status_code == 201, resp.text
    assert resp.json()["shipping_address"]["name"] == stored


@pytest.mark.parametrize(
    "url", ["/orders?customer_id=a%00b", "/orders/a%00b", "/orders?offset=9223372036854775808", "/orders?offset=-1"]
)
async def test_unstorable_or_out_of_range_parameters_are_422(client: httpx.AsyncClient, url: str) -> None:
    resp = await client.get(url)
    assert resp.status_code == 422, resp.text
    assert resp.json()["type"] == "ValidationError"


@pytest.mark.parametrize(
    ("field", "value"),
    [("quantity", True), ("quantity", "2"), ("quantity", 2.0), ("unit_price_cents", "1200"), ("sku", 5)],
)
async def test_wrong_json_types_are_refused_not_coerced(client: httpx.AsyncClient, field: str, value: Any) -> None:
    body = order("Alice")
    body["lines"][0][field] = value
    resp = await client.post("/orders", json=body)
    assert resp.status_code == 422, resp.text
    assert (await client.get(f"/orders/{body['order_id']}")).status_code == 404


def test_the_scan_needs_no_parse_for_ordinary_bodies() -> None:
    from common.middleware import unstorable_json

    assert unstorable_json(b'{"name": "Zo\xc3\xab", "n": 1}') is None
    assert unstorable_json(b'{"name": "a\x00"}') is not None


# A value the database itself refuses (SQLSTATE class 22) is deterministic: 422, not 500.
_probe = APIRouter()


@_probe.get("/probe/{case}")
async def probe(case: str, session: SessionDep) -> dict[str, str]:
    statements: dict[str, tuple[TextClause, dict[str, Any]]] = {
        "nul-in-text": (text("SELECT CAST(:v AS text)"), {"v": "a\x00b"}),
        "surrogate": (text("SELECT CAST(:v AS text)"), {"v": "a\ud800b"}),
        "int-overflow": (text("SELECT CAST(:v AS bigint)"), {"v": 2**63}),
        "numeric-out-of-range": (text("SELECT CAST(:v AS integer) * 1000000"), {"v": 2**30}),
        "nul-in-jsonb": (text("SELECT CAST(:v AS jsonb)"), {"v": '{"a": "\\u0000"}'}),
        "bug": (text("SELECT * FROM no_such_table"), {}),
    }
    statement, params = statements[case]
    await (await session.connection()).execute(statement, params)
    return {"case": case}


@pytest.fixture
async def probe_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(service="orders", database_url=database_url, environment="test")
    app = create_service_app(settings, title="probe", routers=[_probe])
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://orders", headers=service_credential(settings)
        ) as http:
            yield http


@pytest.mark.parametrize("case", ["nul-in-text", "surrogate", "int-overflow", "numeric-out-of-range", "nul-in-jsonb"])
async def test_a_value_the_database_refuses_is_422(probe_client: httpx.AsyncClient, case: str) -> None:
    resp = await probe_client.get(f"/probe/{case}")
    assert resp.status_code == 422, resp.text
    assert resp.json() == {"type": "ValidationError", "detail": "the database cannot store a value of this request"}


async def test_any_other_database_error_is_still_a_500(probe_client: httpx.AsyncClient) -> None:
    resp = await probe_client.get("/probe/bug")
    assert resp.status_code == 500
    assert resp.json()["type"] == "InternalError"
