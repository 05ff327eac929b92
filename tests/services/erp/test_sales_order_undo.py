"""The export's undo (``erp.cancel_sales_order``) against the real ERP stand-in: the activities over its app."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.erp_orders import CreateSalesOrder, ErpOrdersActivities, SalesOrderCancelled, SalesOrderCreated
from activities.erp_sync import ErpClient
from activities.orders import OrderLine
from common.settings import ServiceSettings
from tests.activities.test_activities import env
from tests.services.erp.helpers import change, entity, events


def order(order_id: str, email: str = "alice@example.com") -> CreateSalesOrder:
    return CreateSalesOrder(
        order_id=order_id,
        customer_email=email,
        currency="EUR",
        lines=[OrderLine("MUG-RED", 2, 1200), OrderLine("PEN-BLK", 1, 250)],
    )


def activities(client: httpx.AsyncClient) -> ErpOrdersActivities:
    token = ServiceSettings().service_token.get_secret_value()
    return ErpOrdersActivities(ErpClient(client, str(client.base_url), token))


async def export(client: httpx.AsyncClient, params: CreateSalesOrder) -> SalesOrderCreated:
    created: SalesOrderCreated = await env(f"order-{params.order_id}").run(
        activities(client).create_sales_order, params
    )
    return created


async def undo(client: httpx.AsyncClient, params: CreateSalesOrder) -> SalesOrderCancelled:
    cancelled: SalesOrderCancelled = await env(f"order-{params.order_id}").run(
        activities(client).cancel_sales_order, params
    )
    return cancelled


async def status_events(client: httpx.AsyncClient, number: str) -> list[str]:
    found = await events(client, object_id=number)
    return [e["body"]["data"]["OverallStatus"] for e in found if e["type"] == "SalesOrderStatusChanged"]


async def test_an_exported_order_is_cancelled_and_a_late_export_answers_the_same_cancelled_order(
    client: httpx.AsyncClient,
) -> None:
    params = order("undo-exported")
    created = await export(client, params)
    before = await entity(client, "SalesOrders", created.document_number)

    cancelled = await undo(client, params)

    assert cancelled == SalesOrderCancelled("undo-exported", created.document_number, "cancelled")
    after = await entity(client, "SalesOrders", created.document_number)
    assert after["OverallStatus"] == "CANCELLED"
    assert (before["@odata.etag"], after["@odata.etag"]) == ('W/"1"', 'W/"2"')
    # The ERP tells PakLog of the change (the workflow ignores it: it is compensating or has ended).
    assert await status_events(client, created.document_number) == ["CANCELLED"]
    # An export attempt still in flight meets the ERP's key: the same, cancelled, sales order.
    late = await export(client, params)
    assert (late.document_number, late.created) == (created.document_number, False)
    assert (await entity(client, "SalesOrders", created.document_number))["OverallStatus"] == "CANCELLED"
    # Undone again (a retry after a lost answer): nothing changes.
    again = await undo(client, params)
    assert again.outcome == "already_cancelled"
    assert (await entity(client, "SalesOrders", created.document_number))["@odata.etag"] == 'W/"2"'


async def test_an_undo_before_the_export_arrived_creates_the_order_cancelled_for_the_late_export(
    client: httpx.AsyncClient,
) -> None:
    params = order("undo-first")
    cancelled = await undo(client, params)
    assert cancelled.outcome == "cancelled"
    assert cancelled.document_number is not None
    late = await export(client, params)
    assert (late.document_number, late.created) == (cancelled.document_number, False)
    assert (await entity(client, "SalesOrders", late.document_number))["OverallStatus"] == "CANCELLED"


async def test_an_export_and_its_undo_at_once_leave_one_cancelled_sales_order(client: httpx.AsyncClient) -> None:
    params = order("undo-race")
    created, cancelled = await asyncio.gather(export(client, params), undo(client, params))
    assert created.document_number == cancelled.document_number
    assert (await entity(client, "SalesOrders", created.document_number))["OverallStatus"] == "CANCELLED"
    page = (await client.get("/odata/SalesOrders", params={"$top": "1000"})).json()["value"]
    assert [o["SalesOrder"] for o in page if o["PurchaseOrderByCustomer"] == "undo-race"] == [created.document_number]


async def test_an_order_on_credit_hold_is_cancelled(client: httpx.AsyncClient) -> None:
    params = order("undo-held")
    created = await export(client, params)
    await change(client, "SalesOrders", created.document_number, {"OverallStatus": "CREDIT_HOLD"})
    assert (await undo(client, params)).outcome == "cancelled"
    assert (await entity(client, "SalesOrders", created.document_number))["OverallStatus"] == "CANCELLED"


async def test_an_order_the_erp_cancelled_itself_is_left_as_it_is(client: httpx.AsyncClient) -> None:
    params = order("undo-erp-cancelled")
    created = await export(client, params)
    await change(client, "SalesOrders", created.document_number, {"OverallStatus": "CANCELLED"})
    assert (await undo(client, params)).outcome == "already_cancelled"
    assert (await entity(client, "SalesOrders", created.document_number))["@odata.etag"] == 'W/"2"'
    assert await status_events(client, created.document_number) == ["CANCELLED"]  # only the ERP's own


async def test_a_blocked_customers_order_was_never_created_and_is_not_created_now(client: httpx.AsyncClient) -> None:
    blocked = await client.post("/control/credit-block", json={"email": "alice@example.com", "blocked": True})
    assert blocked.status_code == 200, blocked.text
    params = order("undo-blocked")
    cancelled = await undo(client, params)
    assert cancelled == SalesOrderCancelled("undo-blocked", None, "never_created")
    page = (await client.get("/odata/SalesOrders", params={"$top": "1000"})).json()["value"]
    assert "undo-blocked" not in {o["PurchaseOrderByCustomer"] for o in page}


async def test_a_completed_sales_order_is_not_cancelled(client: httpx.AsyncClient) -> None:
    params = order("undo-completed")
    created = await export(client, params)
    await change(client, "SalesOrders", created.document_number, {"OverallStatus": "COMPLETED"})
    with pytest.raises(ApplicationError) as caught:
        await undo(client, params)
    assert caught.value.type == "SalesOrderCompleted"
    assert (await entity(client, "SalesOrders", created.document_number))["OverallStatus"] == "COMPLETED"
