"""The order export's activities over httpx.MockTransport: the sales order sent, the number back, errors mapped;
its undo posts the same order again and cancels it with its ETag."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.base import ServiceCallError
from activities.erp_orders import (
    CreateSalesOrder,
    ErpOrdersActivities,
    SalesOrderCancelled,
    SalesOrderCreated,
    net_price,
    sales_order_body,
)
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


# -- the undo: erp.cancel_sales_order ----------------------------------------------------------
NUMBER = "0000500001"
SALES_ORDER_URL = f"http://erp.test/odata/SalesOrders('{NUMBER}')"


def sales_order(status: str, version: int = 3) -> dict[str, object]:
    return {
        "SalesOrder": NUMBER,
        "PurchaseOrderByCustomer": ORDER.order_id,
        "OverallStatus": status,
        "@odata.etag": f'W/"{version}"',
    }


def erp(*answers: httpx.Response) -> Handler:
    """The ERP answering each request in turn (a test fails on a request it did not expect)."""
    queue = list(answers)
    return lambda _: queue.pop(0)


def found(status: str, code: int = 200, *, etag_header: bool = True) -> httpx.Response:
    body = sales_order(status)
    headers = {"ETag": str(body["@odata.etag"])} if etag_header else {}
    return httpx.Response(code, json=body, headers=headers)


async def undo(handler: Handler) -> tuple[SalesOrderCancelled, list[httpx.Request]]:
    requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handler(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as http:
        acts = ErpOrdersActivities(ErpClient(http, "http://erp.test/", TOKEN))
        cancelled: SalesOrderCancelled = await env("order-a1b2c3").run(acts.cancel_sales_order, ORDER)
    return cancelled, requests


@pytest.mark.parametrize(("code", "etag_header"), [(200, True), (201, True), (200, False)])
async def test_the_undo_posts_the_same_order_again_then_cancels_it_with_its_etag(code: int, etag_header: bool) -> None:
    # 200: the export got there first; 201: the undo got there first (a late export then answers this order).
    # Without the header the ETag comes from the entity's @odata.etag.
    cancelled, requests = await undo(
        erp(found("OPEN", code, etag_header=etag_header), httpx.Response(200, json=sales_order("CANCELLED", 4)))
    )
    assert cancelled == SalesOrderCancelled(order_id="a1b2c3", document_number=NUMBER, outcome="cancelled")
    post, patch = requests
    assert (post.method, str(post.url)) == ("POST", "http://erp.test/odata/SalesOrders")
    assert json.loads(post.content) == sales_order_body(ORDER)  # exactly the export's request
    assert (patch.method, str(patch.url)) == ("PATCH", SALES_ORDER_URL)
    assert patch.headers["If-Match"] == 'W/"3"'
    assert patch.headers[SERVICE_TOKEN_HEADER] == TOKEN
    assert json.loads(patch.content) == {"OverallStatus": "CANCELLED"}


async def test_a_sales_order_on_credit_hold_is_cancelled_too() -> None:
    cancelled, requests = await undo(erp(found("CREDIT_HOLD"), httpx.Response(200, json=sales_order("CANCELLED", 4))))
    assert cancelled.outcome == "cancelled"
    assert [r.method for r in requests] == ["POST", "PATCH"]


async def test_an_order_cancelled_already_is_not_patched_again() -> None:
    cancelled, requests = await undo(erp(found("CANCELLED")))
    assert cancelled == SalesOrderCancelled(order_id="a1b2c3", document_number=NUMBER, outcome="already_cancelled")
    assert [r.method for r in requests] == ["POST"]


@pytest.mark.parametrize("error_type", ["CustomerBlocked", "UnknownMaterial"])
async def test_an_order_the_erp_refuses_was_never_created(error_type: str) -> None:
    cancelled, requests = await undo(answer(422, {"type": error_type, "detail": "no"}))
    assert cancelled == SalesOrderCancelled(order_id="a1b2c3", document_number=None, outcome="never_created")
    assert [r.method for r in requests] == ["POST"]


async def test_a_sales_order_changed_between_the_two_calls_is_retried() -> None:
    conflict = httpx.Response(412, json={"type": "PreconditionFailed", "detail": "not the current ETag"})
    with pytest.raises(ServiceCallError) as caught:
        await undo(erp(found("OPEN"), conflict))
    assert "changed" in str(caught.value)


@pytest.mark.parametrize(
    "answers",
    [
        [httpx.Response(503, json={"type": "ErpUnavailable", "detail": "down"})],
        [found("OPEN"), httpx.Response(503, json={"type": "ErpUnavailable", "detail": "down"})],
        [httpx.Response(200, json={"value": []})],  # no sales order in a 2xx
        [httpx.Response(200, json={"SalesOrder": NUMBER, "OverallStatus": "OPEN"})],  # no ETag
    ],
    ids=["post-503", "patch-503", "no-number", "no-etag"],
)
async def test_the_erp_down_or_an_unusable_answer_is_retried(answers: list[httpx.Response]) -> None:
    with pytest.raises(ServiceCallError):
        await undo(erp(*answers))


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
async def test_the_undo_retries_timeouts_and_connection_errors(error: Exception) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    with pytest.raises(ServiceCallError):
        await undo(fail)


async def test_a_completed_sales_order_is_left_to_operators() -> None:
    with pytest.raises(ApplicationError) as caught:
        await undo(erp(found("COMPLETED")))
    # Not marked non-retryable: the workflow's undo policy lists it as impossible.
    assert (caught.value.type, caught.value.non_retryable) == ("SalesOrderCompleted", False)
    assert caught.value.details[0] == {"SalesOrder": NUMBER, "OverallStatus": "COMPLETED"}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (409, {"type": "DuplicatePurchaseOrder", "detail": "other content", "SalesOrder": "0000500002"}),
        (422, {"type": "ValidationError", "detail": "bad"}),
    ],
)
async def test_other_rejections_of_the_undo_are_left_to_the_workflows_policy(
    status: int, body: dict[str, object]
) -> None:
    with pytest.raises(ApplicationError) as caught:
        await undo(answer(status, body))
    assert (caught.value.type, caught.value.non_retryable) == (body["type"], False)
