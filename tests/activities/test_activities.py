"""Activities in ActivityEnvironment over httpx.MockTransport: keys sent, errors mapped."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.base import ServiceCallError
from activities.inventory import InventoryActivities, InventoryClient, ReleaseStock, ReserveLine, ReserveStock
from activities.notifications import NotificationsActivities, NotificationsClient, SendMessage
from activities.orders import CancelOrder, OrdersActivities, OrdersClient, TransitionOrder
from activities.payments import AuthorizePayment, PaymentsActivities, PaymentsClient, VoidPayment
from common.sealing import seal
from common.service_auth import SERVICE_TOKEN_HEADER

TOKEN = "test-service-token-of-this-deployment-0123456789"


class Recorder:
    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body = status, body
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, json=self.body)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


def env(workflow_id: str = "order-42") -> ActivityEnvironment:
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, workflow_id=workflow_id)
    return environment


async def test_reserve_sends_the_step_key_and_lines() -> None:
    recorder = Recorder(201, {"order_id": "42", "status": "ACTIVE", "lines": []})
    async with recorder.client() as http:
        acts = InventoryActivities(InventoryClient(http, "http://inventory", TOKEN))
        result = await env().run(acts.reserve, ReserveStock("42", [ReserveLine("MUG-RED", 2)]))
    assert result.status == "ACTIVE"
    request = recorder.requests[0]
    assert request.headers["Idempotency-Key"] == "order-42:reserve"
    assert request.headers[SERVICE_TOKEN_HEADER] == TOKEN
    assert json.loads(request.content) == {"order_id": "42", "lines": [{"sku": "MUG-RED", "quantity": 2}]}


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(409, "OutOfStock"), (422, "UnknownSku")],
)
async def test_reserve_rejections_are_not_retried(status: int, error_type: str) -> None:
    recorder = Recorder(status, {"type": error_type, "detail": "no"})
    async with recorder.client() as http:
        acts = InventoryActivities(InventoryClient(http, "http://inventory", TOKEN))
        with pytest.raises(ApplicationError) as caught:
            await env().run(acts.reserve, ReserveStock("42", [ReserveLine("MUG-RED", 2)]))
    assert caught.value.type == error_type
    assert caught.value.non_retryable


async def test_decline_is_non_retryable_payment_declined() -> None:
    recorder = Recorder(402, {"type": "PaymentDeclined", "detail": "card declined", "payment": {}})
    async with recorder.client() as http:
        acts = PaymentsActivities(PaymentsClient(http, "http://payments", TOKEN))
        with pytest.raises(ApplicationError) as caught:
            await env().run(acts.authorize, AuthorizePayment("42", 100, "EUR", "tok_declined"))
    assert (caught.value.type, caught.value.non_retryable) == ("PaymentDeclined", True)
    assert recorder.requests[0].headers["Idempotency-Key"] == "order-42:authorize"


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_server_errors_are_retryable(status: int) -> None:
    recorder = Recorder(status, {"type": "ProcessorUnavailable", "detail": "try later"})
    async with recorder.client() as http:
        acts = PaymentsActivities(PaymentsClient(http, "http://payments", TOKEN))
        with pytest.raises(ServiceCallError):
            await env().run(acts.authorize, AuthorizePayment("42", 100, "EUR", "tok_flaky"))


async def test_transport_errors_propagate_for_retry() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        acts = OrdersActivities(OrdersClient(http, "http://orders", TOKEN))
        with pytest.raises(httpx.ConnectError):
            await env().run(acts.transition, TransitionOrder("42", "RESERVED"))


async def test_transition_key_names_the_target_status() -> None:
    recorder = Recorder(200, {"order_id": "42", "status": "RESERVED", "total_cents": 5})
    async with recorder.client() as http:
        acts = OrdersActivities(OrdersClient(http, "http://orders", TOKEN))
        state = await env().run(acts.transition, TransitionOrder("42", "RESERVED"))
    assert state.status == "RESERVED"
    assert recorder.requests[0].headers["Idempotency-Key"] == "order-42:status:RESERVED"


async def test_the_erp_document_number_rides_on_the_transition_only_when_given() -> None:
    recorder = Recorder(200, {"order_id": "42", "status": "AWAITING_WAVE"})
    async with recorder.client() as http:
        acts = OrdersActivities(OrdersClient(http, "http://orders", TOKEN))
        await env().run(acts.transition, TransitionOrder("42", "AWAITING_WAVE", erp_document_number="0000500001"))
        await env().run(acts.transition, TransitionOrder("42", "AWAITING_WAVE"))
    first, bare = (json.loads(r.content) for r in recorder.requests)
    assert first == {"status": "AWAITING_WAVE", "erp_document_number": "0000500001"}
    assert bare == {"status": "AWAITING_WAVE"}  # as before the export: stored keys' fingerprints still match
    assert {r.headers["Idempotency-Key"] for r in recorder.requests} == {"order-42:status:AWAITING_WAVE"}


async def test_cancel_of_an_order_never_created_is_nothing_to_undo() -> None:
    recorder = Recorder(404, {"type": "OrderNotFound", "detail": "no order"})
    async with recorder.client() as http:
        acts = OrdersActivities(OrdersClient(http, "http://orders", TOKEN))
        state = await env().run(acts.cancel, CancelOrder("42", "OUT_OF_STOCK"))
    assert state.status is None


async def test_void_and_release_with_nothing_held_succeed() -> None:
    void = Recorder(200, {"order_id": "42", "status": None})
    release = Recorder(200, {"order_id": "42", "status": None, "lines": []})
    async with void.client() as pay_http, release.client() as inv_http:
        payments = PaymentsActivities(PaymentsClient(pay_http, "http://payments", TOKEN))
        inventory = InventoryActivities(InventoryClient(inv_http, "http://inventory", TOKEN))
        assert (await env().run(payments.void, VoidPayment("42"))).status is None
        assert (await env().run(inventory.release, ReleaseStock("42"))).status is None
    assert void.requests[0].headers["Idempotency-Key"] == "order-42:void"
    assert release.requests[0].headers["Idempotency-Key"] == "order-42:release"


async def test_notification_key_is_per_template() -> None:
    recorder = Recorder(201, {"id": "m1", "status": "SENT"})
    async with recorder.client() as http:
        acts = NotificationsActivities(NotificationsClient(http, "http://notifications", TOKEN))
        sent = await env().run(
            acts.send, SendMessage(template="order_confirmed", recipient="a@example.com", order_id="42")
        )
    assert sent.status == "SENT"
    assert recorder.requests[0].headers["Idempotency-Key"] == "order-42:notify:order_confirmed"
    assert json.loads(recorder.requests[0].content)["template"] == "order_confirmed"


async def test_a_sealed_reset_code_is_opened_only_for_the_call_to_notifications() -> None:
    recorder = Recorder(201, {"id": "m1", "status": "SENT"})
    sealed = seal(TOKEN, "reset-code-123")
    context = {"name": "Alice", "token": sealed, "expires_at": "10:30 UTC"}
    async with recorder.client() as http:
        acts = NotificationsActivities(NotificationsClient(http, "http://notifications", TOKEN))
        await env().run(acts.send, SendMessage(template="password_reset", recipient="a@example.com", context=context))
    assert "reset-code-123" not in sealed
    assert json.loads(recorder.requests[0].content)["context"] == {**context, "token": "reset-code-123"}


async def test_a_code_sealed_with_another_key_is_not_retried() -> None:
    recorder = Recorder(201, {"id": "m1", "status": "SENT"})
    context = {"token": seal("another deployment's token", "reset-code-123")}
    async with recorder.client() as http:
        acts = NotificationsActivities(NotificationsClient(http, "http://notifications", TOKEN))
        with pytest.raises(ApplicationError) as caught:
            await env().run(acts.send, SendMessage(template="password_reset", recipient="a@b.example", context=context))
    assert (caught.value.type, caught.value.non_retryable) == ("SealBroken", True)
    assert recorder.requests == []


async def test_a_late_reserve_after_its_release_is_not_retried() -> None:
    recorder = Recorder(409, {"type": "ReservationReleased", "detail": "the release ran first"})
    async with recorder.client() as http:
        acts = InventoryActivities(InventoryClient(http, "http://inventory", TOKEN))
        with pytest.raises(ApplicationError) as caught:
            await env().run(acts.reserve, ReserveStock("42", [ReserveLine("MUG-RED", 2)]))
    assert (caught.value.type, caught.value.non_retryable) == ("ReservationReleased", True)


async def test_a_late_authorize_after_its_void_is_not_retried() -> None:
    recorder = Recorder(409, {"type": "PaymentVoided", "detail": "the void ran first"})
    async with recorder.client() as http:
        acts = PaymentsActivities(PaymentsClient(http, "http://payments", TOKEN))
        with pytest.raises(ApplicationError) as caught:
            await env().run(acts.authorize, AuthorizePayment("42", 100, "EUR", "tok_visa"))
    assert (caught.value.type, caught.value.non_retryable) == ("PaymentVoided", True)


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(503, "DeliveryFailed"), (409, "IdempotencyKeyInProgress"), (401, "InvalidServiceCredential")],
)
async def test_failed_delivery_and_a_step_still_in_progress_are_retried(status: int, error_type: str) -> None:
    recorder = Recorder(status, {"type": error_type, "detail": "not yet"})
    async with recorder.client() as http:
        acts = NotificationsActivities(NotificationsClient(http, "http://notifications", TOKEN))
        with pytest.raises(ServiceCallError, match=error_type):
            await env().run(acts.send, SendMessage(template="order_confirmed", recipient="a@example.com"))


async def test_every_activity_client_sends_the_service_token() -> None:
    recorder = Recorder(200, {"order_id": "42", "status": "CANCELLED"})
    async with recorder.client() as http:
        acts = OrdersActivities(OrdersClient(http, "http://orders", TOKEN))
        await env().run(acts.cancel, CancelOrder("42", "OUT_OF_STOCK"))
        await env().run(acts.transition, TransitionOrder("42", "RESERVED"))
    assert [r.headers.get(SERVICE_TOKEN_HEADER) for r in recorder.requests] == [TOKEN, TOKEN]
