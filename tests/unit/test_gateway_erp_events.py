"""``POST /api/webhooks/erp`` and ``GET /api/erp/dead-letters`` through the gateway to the real orders,
inventory and identity apps (rolled back after each test), with a stand-in for Temporal that records signals.

Events are built by the ERP stand-in's own ``event_body`` and signed as it signs them; every answer is
checked against the gateway's OpenAPI document.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema_rs
import pytest
from temporalio.service import RPCError, RPCStatusCode

from common.security import TokenIssuer, TokenVerifier
from common.webhooks import SIGNATURE_HEADER, erp_secret, sign
from gateway.app import create_app
from gateway.clients import ServiceClients
from gateway.settings import GatewaySettings
from services.erp.store import event_body
from services.identity.app import create_app as identity_app
from services.inventory.app import create_app as inventory_app
from services.orders.app import create_app as orders_app
from services.warehouse.app import create_app as warehouse_app
from tests.conftest import ServiceDatabases
from tests.services.orders.test_orders import new_order
from tests.support import rolled_back_client
from workflows.erp_status import ErpStatusEvent

JWT_SECRET = secrets.token_urlsafe(48)
T0 = datetime(2027, 1, 12, 10, 0, tzinfo=UTC)
ISSUER = TokenIssuer(secret=JWT_SECRET)
ERP_TOKEN = ISSUER.issue(username="erp", user_id="client:erp", role="partner", email="", name="ERP", scopes=["erp"])
OLIVIA = ISSUER.issue(username="olivia", user_id="u-o", role="operator", email="o@example.com", name="Olivia")
ALICE = ISSUER.issue(username="alice", user_id="u-a", role="customer", email="a@example.com", name="Alice")


@dataclass
class FakeTemporal:
    """Records the signals the gateway sends; ``failures`` makes the next ones fail with these RPC statuses."""

    signals: list[tuple[str, str, Any]] = field(default_factory=list)
    failures: list[RPCStatusCode] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str) -> Any:
        temporal = self

        class Handle:
            async def signal(self, name: str, arg: Any) -> None:
                if temporal.failures:
                    raise RPCError("refused", temporal.failures.pop(0), b"")
                temporal.signals.append((workflow_id, name, arg))

        return Handle()


class Services(httpx.AsyncBaseTransport):
    """Sends each of the gateway's calls to the service app its host names."""

    def __init__(self, apps: dict[str, httpx.AsyncClient]) -> None:
        self.apps = apps

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        app = self.apps.get(request.url.host)
        if app is None:
            raise httpx.ConnectError("nobody listens there", request=request)
        resp = await app.send(request)
        return httpx.Response(resp.status_code, headers=resp.headers, content=await resp.aread())


@dataclass
class Door:
    http: httpx.AsyncClient
    services: dict[str, httpx.AsyncClient]
    temporal: FakeTemporal
    document: dict[str, Any]
    settings: GatewaySettings

    def check(self, resp: httpx.Response, template: str, status: int) -> Any:
        assert resp.status_code == status, resp.text
        method = resp.request.method.lower()
        responses = self.document["paths"][template][method]["responses"]
        schema = {
            **responses[str(status)]["content"]["application/json"]["schema"],
            "components": self.document["components"],
        }
        errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(resp.json())]
        assert not errors, f"{template} {status}: {errors}"
        return resp.json()

    async def post(self, body: bytes, *, token: str | None = ERP_TOKEN, signature: str | None = None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        secret = erp_secret(self.settings.service_token.get_secret_value(), None)
        headers[SIGNATURE_HEADER] = signature if signature is not None else sign(secret, body)
        return await self.http.post("/api/webhooks/erp", content=body, headers=headers)

    @staticmethod
    def last_event_id(body: bytes) -> str:
        event_id: str = json.loads(body)["event_id"]
        return event_id

    async def deliver(self, body: bytes, status: int = 200) -> Any:
        return self.check(await self.post(body), "/api/webhooks/erp", status)


@pytest.fixture
def databases(service_databases: ServiceDatabases) -> dict[str, str]:
    return {name: service_databases[name] for name in ("orders", "inventory", "identity", "warehouse")}


@pytest.fixture
async def door(databases: dict[str, str]) -> AsyncIterator[Door]:
    factories = {"orders": orders_app, "inventory": inventory_app, "identity": identity_app, "warehouse": warehouse_app}
    async with AsyncExitStack() as stack:
        apps = {
            name: (await stack.enter_async_context(rolled_back_client(factory, name, databases[name])))[0]
            for name, factory in factories.items()
        }
        settings = GatewaySettings(
            jwt_secret=JWT_SECRET,
            orders_url="http://orders",
            inventory_url="http://inventory",
            identity_url="http://identity",
            warehouse_url="http://warehouse",
        )
        temporal = FakeTemporal()
        app = create_app(settings, temporal=temporal)  # type: ignore[arg-type]
        http = await stack.enter_async_context(httpx.AsyncClient(transport=Services(apps)))
        app.state.clients = ServiceClients(http, settings)
        app.state.verifier = TokenVerifier(secret=JWT_SECRET)
        app.state.temporal = temporal
        gateway = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
        )
        yield Door(gateway, apps, temporal, app.openapi(), settings)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat(timespec="microseconds").replace("+00:00", "Z")


def stock(sku: str, on_hand: int, minutes: float, event_id: str | None = None) -> bytes:
    data = {"Material": sku, "Plant": "1000", "UnrestrictedStock": on_hand, "LastChangedAt": at(minutes)}
    return event_body(event_id or str(uuid.uuid4()), "StockChanged", sku, {**data, "@odata.etag": 'W/"2"'})


def material(sku: str, price: str, minutes: float) -> bytes:
    data = {
        "Material": sku,
        "MaterialDescription": f"Material {sku}",
        "BaseUnit": "EA",
        "GrossWeight": "0.350",
        "WeightUnit": "KG",
        "Volume": "1.200",
        "VolumeUnit": "L",
        "InternationalArticleNumber": "4006381333931",
        "Price": price,
        "Currency": "EUR",
        "LastChangedAt": at(minutes),
        "@odata.etag": 'W/"3"',
    }
    return event_body(str(uuid.uuid4()), "MaterialChanged", sku, data)


def sales_order(order_id: str, status: str, minutes: float, event_id: str | None = None) -> bytes:
    data = {
        "SalesOrder": "0000500001",
        "PurchaseOrderByCustomer": order_id,
        "SoldToParty": "0000100001",
        "CustomerEmail": "alice@example.com",
        "Currency": "EUR",
        "TotalNetAmount": "24.00",
        "OverallStatus": status,
        "Items": [{"Material": "MUG-RED", "RequestedQuantity": 2, "NetPrice": "12.00"}],
        "LastChangedAt": at(minutes),
        "@odata.etag": 'W/"2"',
    }
    return event_body(event_id or str(uuid.uuid4()), "SalesOrderStatusChanged", "0000500001", data)


def customer(number: str, minutes: float, blocked: bool) -> bytes:
    data = {
        "Customer": number,
        "CustomerName": "Event Buyer",
        "EmailAddress": f"c{number}@example.com",
        "StreetName": "Hauptstrasse 1",
        "CityName": "Hamburg",
        "PostalCode": "20095",
        "Country": "DE",
        "DeliveryIsBlocked": False,
        "CreditIsBlocked": blocked,
        "LastChangedAt": at(minutes),
    }
    return event_body(str(uuid.uuid4()), "CustomerChanged", number, data)


async def new_sku(door: Door, on_hand: int = 10) -> str:
    code = f"EV-{uuid.uuid4().hex[:8].upper()}"
    put = await door.services["inventory"].put(
        f"/products/{code}", json={"name": "Seeded", "price_cents": 100, "on_hand": on_hand}
    )
    assert put.status_code == 200, put.text
    return code


async def new_order_id(door: Door) -> str:
    created = await door.services["orders"].post("/orders", json=new_order())
    assert created.status_code == 201, created.text
    order_id: str = created.json()["order_id"]
    return order_id


# -- authentication and malformed bodies ---------------------------------------------------------


async def test_the_webhook_wants_the_erps_token_and_its_signature(door: Door) -> None:
    body = stock("MUG-RED", 1, 1)
    hook = "/api/webhooks/erp"
    missing = door.check(await door.post(body, token=None), hook, 401)
    assert missing["type"] == "MissingToken"
    assert door.check(await door.post(body, token="not.a.jwt"), hook, 401)["type"] == "InvalidToken"
    for person in (ALICE, OLIVIA):
        assert door.check(await door.post(body, token=person), hook, 403)["type"] == "InsufficientScope"
    bad = door.check(await door.post(body, signature="sha256=" + "0" * 64), hook, 401)
    assert bad["type"] == "InvalidSignature"
    assert door.check(await door.post(body, signature=""), hook, 401)["type"] == "InvalidSignature"
    other_secret = sign("another-secret-entirely", body)
    assert door.check(await door.post(body, signature=other_secret), hook, 401)["type"] == "InvalidSignature"
    # Signed over other bytes than those sent (a count changed on the way).
    secret = erp_secret(door.settings.service_token.get_secret_value(), None)
    changed = body.replace(b'"UnrestrictedStock":1', b'"UnrestrictedStock":9')
    assert door.check(await door.post(changed, signature=sign(secret, body)), hook, 401)["type"] == "InvalidSignature"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b'{"event_id": "e1"}', id="missing-fields"),
        pytest.param(event_body("e1", "PriceListChanged", "X", {"LastChangedAt": "2027-01-12T10:00:00Z"}), id="type"),
        pytest.param(stock("MUG-RED", 1, 1).replace(b'"object_id":"MUG-RED"', b'"object_id":"MUG-BLU"'), id="object"),
        pytest.param(stock("MUG-RED", 1, 1).replace(b'"UnrestrictedStock":1', b'"UnrestrictedStock":-1'), id="count"),
        pytest.param(material("MUG-RED", "twelve", 1), id="price"),
        pytest.param(sales_order("o-1", "credit hold", 1), id="status"),
        pytest.param(
            sales_order("o-1", "OPEN", 1).replace(b'"PurchaseOrderByCustomer":"o-1",', b""), id="no-purchase-order"
        ),
    ],
)
async def test_malformed_events_are_422(door: Door, body: bytes) -> None:
    answer = door.check(await door.post(body), "/api/webhooks/erp", 422)
    assert answer["type"] in {"ValidationError", "ObjectMismatch", "InvalidErpData"}


async def test_an_oversized_event_is_413(door: Door) -> None:
    body = stock("MUG-RED", 1, 1)[:-1] + b"," + b'"pad":"' + b"x" * 40_000 + b'"}'
    assert door.check(await door.post(body), "/api/webhooks/erp", 413)["type"] == "PayloadTooLarge"


# -- master data -------------------------------------------------------------------------------


async def test_stock_events_apply_once_in_order_and_unknown_skus_are_dead_letters(door: Door) -> None:
    code = await new_sku(door)
    first = stock(code, 40, 10)
    assert (await door.deliver(first))["result"] == "applied"
    assert (await door.deliver(first))["result"] == "duplicate"
    assert (await door.deliver(stock(code, 30, 5)))["result"] == "stale"  # came late
    assert (await door.services["inventory"].get(f"/products/{code}")).json()["on_hand"] == 40
    lost = await door.deliver(stock("NOBODY-HAS-IT", 1, 11))
    assert lost["result"] == "dead_letter"


async def adjustment_bin(door: Door, sku: str) -> int | None:
    """The SKU's units in the warehouse's stock-adjustment bin (``None``: no row there)."""
    rows = (await door.services["warehouse"].get("/stock", params={"sku": sku, "location": "X-00-00-0"})).json()
    return sum(row["quantity"] for row in rows) if rows else None


async def pending(door: Door, sku: str) -> list[int]:
    page = (await door.services["inventory"].get("/stock/adjustments", params={"sku": sku, "pending": "true"})).json()
    return [item["delta"] for item in page["items"]]


async def test_an_applied_count_reaches_the_warehouse_adjustment_bin_once(door: Door) -> None:
    code = await new_sku(door, on_hand=10)
    first = stock(code, 40, 10)
    await door.deliver(first)
    assert (await adjustment_bin(door, code), await pending(door, code)) == (30, [])
    await door.deliver(first)  # a repeat carries nothing twice
    await door.deliver(stock(code, 25, 5))  # stale
    await door.deliver(stock(code, 25, 20))  # fewer than the ERP said before
    assert await adjustment_bin(door, code) == 15
    totals = {row["sku"]: row["quantity"] for row in (await door.services["warehouse"].get("/stock/totals")).json()}
    # The SKU came with 10 units and no bin (PUT /products): the bins follow every ERP change from there.
    on_hand = (await door.services["inventory"].get(f"/products/{code}")).json()["on_hand"]
    assert (totals[code], on_hand) == (15, 25)


async def test_an_adjustment_left_behind_by_a_warehouse_outage_goes_with_the_erps_retry(door: Door) -> None:
    code = await new_sku(door, on_hand=10)
    event = stock(code, 12, 10)
    warehouse = door.services.pop("warehouse")
    answer = door.check(await door.post(event), "/api/webhooks/erp", 503)
    assert answer["type"] == "ServiceUnavailable"
    assert await pending(door, code) == [2]  # the count stands, its adjustment waits
    door.services["warehouse"] = warehouse
    assert await adjustment_bin(door, code) is None
    assert (await door.deliver(event))["result"] == "duplicate"
    assert (await pending(door, code), await adjustment_bin(door, code)) == ([], 2)


async def test_a_material_event_lands_in_pakloss_units(door: Door) -> None:
    code = await new_sku(door)
    assert (await door.deliver(material(code, "19.99", 10)))["result"] == "applied"
    product = (await door.services["inventory"].get(f"/products/{code}")).json()
    assert (product["price_cents"], product["weight_grams"], product["volume_cm3"]) == (1999, 350, 1200)


async def test_a_customer_event_reaches_the_read_model(door: Door) -> None:
    number = f"9{uuid.uuid4().int % 10**9:09d}"
    assert (await door.deliver(customer(number, 10, blocked=True)))["result"] == "applied"
    assert (await door.deliver(customer(number, 5, blocked=False)))["result"] == "stale"
    stored = (await door.services["identity"].get(f"/customers/{number}")).json()
    assert stored["credit_blocked"] is True


# -- sales orders: the order's workflow hears of an applied status once ------------------------------------


async def test_an_applied_status_is_signalled_once_to_the_orders_workflow(door: Door) -> None:
    order_id = await new_order_id(door)
    hold = sales_order(order_id, "CREDIT_HOLD", 10)
    assert (await door.deliver(hold))["result"] == "applied"
    assert (await door.deliver(hold))["result"] == "duplicate"
    assert (await door.deliver(sales_order(order_id, "OPEN", 5)))["result"] == "stale"
    assert len(door.temporal.signals) == 1
    workflow_id, name, signalled = door.temporal.signals[0]
    assert (workflow_id, name) == (f"order-{order_id}", "erp_status")
    assert isinstance(signalled, ErpStatusEvent)
    assert (signalled.status, signalled.occurred_at) == ("CREDIT_HOLD", "2027-01-12T10:10:00+00:00")
    assert (await door.deliver(sales_order(order_id, "OPEN", 20)))["result"] == "applied"
    assert [s[2].status for s in door.temporal.signals] == ["CREDIT_HOLD", "OPEN"]


async def test_an_unknown_order_is_a_dead_letter_and_nobody_is_signalled(door: Door) -> None:
    assert (await door.deliver(sales_order("no-such-order", "CANCELLED", 1)))["result"] == "dead_letter"
    assert door.temporal.signals == []


async def test_a_signal_lost_to_an_outage_is_sent_with_the_next_delivery(door: Door) -> None:
    order_id = await new_order_id(door)
    cancelled = sales_order(order_id, "CANCELLED", 10)
    door.temporal.failures = [RPCStatusCode.UNAVAILABLE]
    outage = door.check(await door.post(cancelled), "/api/webhooks/erp", 503)
    assert outage["type"] == "ServiceUnavailable"
    # The ERP retries: recorded already (duplicate), but not forwarded yet, so the signal goes now.
    assert (await door.deliver(cancelled))["result"] == "duplicate"
    assert [s[2].status for s in door.temporal.signals] == ["CANCELLED"]
    assert (await door.deliver(cancelled))["result"] == "duplicate"
    assert len(door.temporal.signals) == 1


async def test_a_status_for_an_ended_workflow_is_kept_and_acknowledged(door: Door) -> None:
    order_id = await new_order_id(door)
    completed = sales_order(order_id, "COMPLETED", 10)
    door.temporal.failures = [RPCStatusCode.NOT_FOUND]
    assert (await door.deliver(completed))["result"] == "applied"
    # Marked forwarded all the same: a repeat tries no signal (one would be recorded now that Temporal answers).
    assert (await door.deliver(completed))["result"] == "duplicate"
    assert door.temporal.signals == []
    stored = (await door.services["orders"].get("/erp-events", params={"status": "applied"})).json()
    assert [e["event_id"] for e in stored["items"]][:1] == [door.last_event_id(completed)]


async def test_a_service_out_of_reach_is_503_so_the_erp_retries(door: Door) -> None:
    del door.services["inventory"]
    answer = door.check(await door.post(stock("MUG-RED", 1, 1)), "/api/webhooks/erp", 503)
    assert answer["type"] == "ServiceUnavailable"


# -- dead letters for operators ------------------------------------------------------------------


async def test_operators_see_both_services_dead_letters_newest_first(door: Door) -> None:
    lost_order = sales_order("no-such-order", "OPEN", 1)
    lost_stock = stock("NOBODY-HAS-IT", 3, 2)
    lost_material = material("NOBODY-HAS-IT", "1.00", 3)
    for body in (lost_order, lost_stock, lost_material):
        assert (await door.deliver(body))["result"] == "dead_letter"
    path = "/api/erp/dead-letters"
    headers = {"Authorization": f"Bearer {OLIVIA}"}
    page = door.check(await door.http.get(path, headers=headers), path, 200)
    assert (page["total"], page["limit"], page["offset"], page["next_cursor"]) == (3, 50, 0, None)
    assert [(d["source"], d["type"], d["reason"]) for d in page["items"]] == [
        ("inventory", "MaterialChanged", "UnknownMaterial"),
        ("inventory", "StockChanged", "UnknownMaterial"),
        ("orders", "SalesOrderStatusChanged", "UnknownOrder"),
    ]
    assert page["items"][2]["body"]["data"]["PurchaseOrderByCustomer"] == "no-such-order"
    second = door.check(await door.http.get(path, headers=headers, params={"limit": 1, "offset": 1}), path, 200)
    assert [d["type"] for d in second["items"]] == ["StockChanged"]
    assert door.check(await door.http.get(path, headers={"Authorization": f"Bearer {ALICE}"}), path, 403)
    assert door.check(await door.http.get(path, headers=headers, params={"offset": 801}), path, 422)
