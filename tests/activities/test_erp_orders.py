"""The order export's activity over httpx.MockTransport: the sales order sent, the number back, errors mapped."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.base import ServiceCallError
from activities.erp_orders import CreateSalesOrder, ErpOrdersActivities, SalesOrderCreated, net_price
from activities.erp_sync import ErpClient
from activities.orders import OrderLine
from common.service_auth import SERVICE_TOKEN_HEADER
from tests.activities.test_activities import TOKEN, env

ORDER = CreateSalesOrder(
    order_id="a1b2c3",
    customer_email="alice@example.com",
    currency="EUR",
    lines=[OrderLine("MUG-RED", 2, 1200), OrderLine("TEE-BLK-M", 1, 1999)],
)
Handler = Callable[[httpx.Request], httpx.Response]


async def export(handler: Handler) -> tuple[SalesOrderCreated, list[httpx.Request]]:
    requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handler(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as http:
        acts = ErpOrdersActivities(ErpClient(http, "http://erp.test/", TOKEN))
        created: SalesOrderCreated = await env("order-a1b2c3").run(acts.create_sales_order, ORDER)
    return created, requests


def answer(status: int, body: object) -> Handler:
    return lambda _: httpx.Response(status, json=body)


@pytest.mark.parametrize(("cents", "text"), [(1200, "12.00"), (1999, "19.99"), (5, "0.05"), (0, "0.00")])
def test_prices_go_as_two_place_decimal_strings(cents: int, text: str) -> None:
    assert net_price(cents) == text


async def test_the_order_is_posted_as_a_sales_order_and_its_number_comes_back() -> None:
    created, requests = await export(answer(201, {"SalesOrder": "0000500001", "OverallStatus": "OPEN"}))
    assert created == SalesOrderCreated(order_id="a1b2c3", document_number="0000500001", created=True)
    request = requests[0]
    assert (request.method, str(request.url)) == ("POST", "http://erp.test/odata/SalesOrders")
    assert request.headers[SERVICE_TOKEN_HEADER] == TOKEN
    assert "Idempotency-Key" not in request.headers  # the purchase order number is the ERP's own key
    assert json.loads(request.content) == {
        "PurchaseOrderByCustomer": "a1b2c3",
        "CustomerEmail": "alice@example.com",
        "Currency": "EUR",
        "Items": [
            {"Material": "MUG-RED", "RequestedQuantity": 2, "NetPrice": "12.00"},
            {"Material": "TEE-BLK-M", "RequestedQuantity": 1, "NetPrice": "19.99"},
        ],
    }


async def test_a_repeat_answers_the_sales_order_created_before() -> None:
    created, _ = await export(answer(200, {"SalesOrder": "0000500007"}))
    assert (created.document_number, created.created) == ("0000500007", False)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (422, {"type": "CustomerBlocked", "detail": "blocked (credit)", "SoldToParty": "0000100001"}),
        (422, {"type": "UnknownMaterial", "detail": "no such material", "materials": ["NOPE"]}),
        (409, {"type": "DuplicatePurchaseOrder", "detail": "other content", "SalesOrder": "0000500002"}),
    ],
)
async def test_business_rejections_are_not_retried_and_keep_the_erp_type(status: int, body: dict[str, object]) -> None:
    with pytest.raises(ApplicationError) as caught:
        await export(answer(status, body))
    assert (caught.value.type, caught.value.non_retryable) == (body["type"], True)
    assert caught.value.details[0] == body  # what the ERP said (the customer, the materials) is kept


@pytest.mark.parametrize(
    ("status", "error_type"), [(503, "ErpUnavailable"), (500, "ErpInternalError"), (502, "BadGateway"), (429, "Busy")]
)
async def test_the_erp_down_is_retried(status: int, error_type: str) -> None:
    with pytest.raises(ServiceCallError):
        await export(answer(status, {"type": error_type, "detail": "down"}))


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
async def test_timeouts_and_connection_errors_are_retried(error: Exception) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    with pytest.raises(ServiceCallError) as caught:
        await export(fail)
    assert "unreachable" in str(caught.value)


async def test_an_answer_without_a_number_is_retried() -> None:
    with pytest.raises(ServiceCallError):
        await export(answer(201, {"value": []}))
