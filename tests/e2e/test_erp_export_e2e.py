"""The order export on the live platform: each accepted order is a sales order in the ERP stand-in, and a
cancelled one's sales order is cancelled there."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from paklog.platform import LocalPlatform
from tests.e2e.test_erp_events_e2e import eventually
from tests.e2e.test_orders_e2e import messages_of, order_body, payments_of, place, settle, stock

pytestmark = pytest.mark.e2e

ALICE = "alice@example.com"


async def credit_block(services: httpx.AsyncClient, platform: LocalPlatform, blocked: bool) -> list[dict[str, Any]]:
    resp = await services.post(
        f"{platform.erp_url}/control/credit-block", json={"customer": None, "email": ALICE, "blocked": blocked}
    )
    assert resp.status_code == 200, resp.text
    customers: list[dict[str, Any]] = resp.json()["value"]
    return customers


@pytest.fixture
async def alice_blocked(platform: LocalPlatform, services: httpx.AsyncClient) -> AsyncIterator[list[dict[str, Any]]]:
    """Alice credit-blocked in the ERP for one test, unblocked after it whatever happens."""
    try:
        yield await credit_block(services, platform, True)
    finally:
        await credit_block(services, platform, False)


async def test_an_accepted_order_carries_its_erp_document_number(
    platform: LocalPlatform, alice: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    order_id = await place(alice, order_body(("MUG-RED", 2), ("NOTE-A5", 1)))
    order = await settle(alice, order_id)
    assert order["status"] == "AWAITING_WAVE", order
    number = order["erp_document_number"]
    assert re.fullmatch(r"[0-9]{10}", number or ""), order
    # The ERP holds it as alice's sales order for this order id, priced as the order was.
    sales_order = (await services.get(f"{platform.erp_url}/odata/SalesOrders('{number}')")).json()
    assert (sales_order["PurchaseOrderByCustomer"], sales_order["CustomerEmail"]) == (order_id, ALICE)
    assert sales_order["OverallStatus"] == "OPEN"
    items = {item["Material"]: item["RequestedQuantity"] for item in sales_order["Items"]}
    assert items == {line["sku"]: line["quantity"] for line in order["lines"]}
    assert sales_order["TotalNetAmount"] == f"{order['total_cents'] // 100}.{order['total_cents'] % 100:02d}"
    record = (await services.get(f"{platform.service_url('orders')}/orders/{order_id}")).json()
    assert record["erp_document_number"] == number


async def test_a_credit_blocked_customer_is_cancelled_erp_rejected_and_everything_undone(
    platform: LocalPlatform,
    alice: httpx.AsyncClient,
    services: httpx.AsyncClient,
    alice_blocked: list[dict[str, Any]],
) -> None:
    assert alice_blocked
    assert all(customer["CreditIsBlocked"] for customer in alice_blocked)
    before = await stock(services, platform, "CAP-GRN")
    since = datetime.now(UTC) - timedelta(minutes=1)
    order_id = await place(alice, order_body(("CAP-GRN", 2)))
    order = await settle(alice, order_id)
    assert (order["status"], order["cancel_reason"]) == ("CANCELLED", "ERP_REJECTED"), order
    assert order["erp_document_number"] is None
    assert [h["to_status"] for h in order["history"]] == ["PENDING", "RESERVED", "PAYMENT_AUTHORIZED", "CANCELLED"]
    assert order["history"][-1]["reason"] == "ERP_REJECTED"
    assert await stock(services, platform, "CAP-GRN") == before  # her stock is released
    reservation = await services.get(f"{platform.service_url('inventory')}/reservations/{order_id}")
    assert reservation.json()["status"] == "RELEASED"
    assert [p["status"] for p in await payments_of(services, platform, order_id)] == ["VOIDED"]
    messages = await messages_of(services, platform, order_id)
    assert [(m["template"], m["recipient"]) for m in messages] == [("order_cancelled", ALICE)]
    # No sales order was created for it.
    recent = await services.get(
        f"{platform.erp_url}/odata/SalesOrders",
        params={"$filter": f"LastChangedAt gt {since.isoformat()}", "$top": "1000"},
    )
    assert recent.status_code == 200, recent.text
    assert order_id not in {o["PurchaseOrderByCustomer"] for o in recent.json()["value"]}

    # Unblocked, her next order goes through again.
    await credit_block(services, platform, False)
    again = await settle(alice, await place(alice, order_body(("CAP-GRN", 1))))
    assert again["status"] == "AWAITING_WAVE", again
    assert again["erp_document_number"] is not None


async def test_a_cancelled_order_cancels_its_sales_order_in_the_erp(
    platform: LocalPlatform, alice: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    order_id = await place(alice, order_body(("MUG-RED", 1)))
    order = await settle(alice, order_id)
    number = order["erp_document_number"]
    assert order["status"] == "AWAITING_WAVE", order
    assert re.fullmatch(r"[0-9]{10}", number or ""), order
    sales_order_url = f"{platform.erp_url}/odata/SalesOrders('{number}')"
    assert (await services.get(sales_order_url)).json()["OverallStatus"] == "OPEN"

    resp = await alice.post(f"/api/orders/{order_id}/cancel")
    assert resp.status_code == 200, resp.text
    cancelled = resp.json()
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("CANCELLED", "CUSTOMER_CANCELLED")
    # Newest first: out of the backlog, the sales order, then the payment, the stock and the order.
    assert cancelled["compensations"] == [
        "warehouse.withdraw",
        "erp.cancel_sales_order",
        "payments.void",
        "inventory.release",
        "orders.cancel",
    ]
    sales_order = (await services.get(sales_order_url)).json()
    assert (sales_order["PurchaseOrderByCustomer"], sales_order["OverallStatus"]) == (order_id, "CANCELLED")

    # The ERP tells PakLog of the change through its webhook; it is taken (2xx) and changes nothing.
    async def delivered() -> list[dict[str, Any]] | None:
        resp = await services.get(f"{platform.erp_url}/events", params={"object_id": number, "limit": 100})
        events: list[dict[str, Any]] = resp.json()
        return events if events and all(e["status"] != "pending" for e in events) else None

    events = await eventually(delivered, f"the ERP's event of sales order {number}")
    assert [(e["type"], e["body"]["data"]["OverallStatus"], e["status"]) for e in events] == [
        ("SalesOrderStatusChanged", "CANCELLED", "delivered")
    ]
    after = (await alice.get(f"/api/orders/{order_id}")).json()
    assert (after["status"], after["cancel_reason"], after["erp_document_number"]) == (
        "CANCELLED",
        "CUSTOMER_CANCELLED",
        number,
    )
    assert after["history"][-1]["actor"] == "alice"
