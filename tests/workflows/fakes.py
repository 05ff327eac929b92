"""Fake activities under the real names, recording what the workflow asked for."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.inventory import ReleaseStock, ReservationState, ReserveStock
from activities.notifications import MessageSent, SendMessage
from activities.orders import AlertRecorded, CancelOrder, CreateOrder, OrderState, RecordAlert, TransitionOrder
from activities.payments import AuthorizePayment, PaymentState, VoidPayment
from workflows.order_fulfillment import (
    OrderFulfillment,
    OrderFulfillmentInput,
    OrderLine,
    OrderSnapshot,
    ShippingAddress,
    workflow_id,
)

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


@dataclass
class Fakes:
    """Scripted service behaviour; ``calls`` is the activity names in the order they ran."""

    out_of_stock: bool = False
    card: str = "tok_visa"
    calls: list[str] = field(default_factory=list)
    authorize_attempts: int = 0
    messages: list[str] = field(default_factory=list)
    cancel_reasons: list[str] = field(default_factory=list)
    cancel_requesters: list[str | None] = field(default_factory=list)
    alerts: list[RecordAlert] = field(default_factory=list)
    #: activity name -> error type it fails with (a 4xx the service would answer), every attempt.
    rejects: dict[str, str] = field(default_factory=dict)
    #: activity name -> how many first attempts are rejected (default: all).
    reject_attempts: dict[str, int] = field(default_factory=dict)
    #: activity name -> how many first attempts fail with a transient error.
    transient_failures: dict[str, int] = field(default_factory=dict)
    #: activity names that fail transiently on every attempt (an outage).
    down: set[str] = field(default_factory=set)
    #: activity names that hold until ``release`` is set (a step in flight).
    hold: set[str] = field(default_factory=set)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    attempts: dict[str, int] = field(default_factory=dict)

    async def _behave(self, name: str, *, undo: bool = False) -> None:
        """Apply the scripted behaviour of ``name`` for this attempt."""
        self.attempts[name] = self.attempts.get(name, 0) + 1
        if name in self.hold:
            await self.release.wait()
        if name in self.down or self.attempts[name] <= self.transient_failures.get(name, 0):
            raise RuntimeError(f"{name}: service unavailable (503)")
        if name in self.rejects and self.attempts[name] <= self.reject_attempts.get(name, 1 << 30):
            # Undo activities leave retrying to the workflow's compensation policy.
            raise ApplicationError(f"{name} rejected", type=self.rejects[name], non_retryable=not undo)

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name="orders.create")
        async def create(params: CreateOrder) -> OrderState:
            self.calls.append("orders.create")
            return OrderState(order_id=params.order_id, status="PENDING")

        @activity.defn(name="orders.transition")
        async def transition(params: TransitionOrder) -> OrderState:
            self.calls.append(f"orders.transition:{params.status}")
            return OrderState(order_id=params.order_id, status=params.status)

        @activity.defn(name="orders.cancel")
        async def cancel(params: CancelOrder) -> OrderState:
            self.calls.append("orders.cancel")
            await self._behave("orders.cancel", undo=True)
            self.cancel_reasons.append(params.reason)
            self.cancel_requesters.append(params.requested_by)
            return OrderState(order_id=params.order_id, status="CANCELLED", cancel_reason=params.reason)

        @activity.defn(name="inventory.reserve")
        async def reserve(params: ReserveStock) -> ReservationState:
            self.calls.append("inventory.reserve")
            await self._behave("inventory.reserve")
            if self.out_of_stock:
                raise ApplicationError("not enough MUG-RED", type="OutOfStock", non_retryable=True)
            return ReservationState(order_id=params.order_id, status="ACTIVE")

        @activity.defn(name="inventory.release")
        async def release(params: ReleaseStock) -> ReservationState:
            self.calls.append("inventory.release")
            await self._behave("inventory.release", undo=True)
            return ReservationState(order_id=params.order_id, status="RELEASED")

        @activity.defn(name="payments.authorize")
        async def authorize(params: AuthorizePayment) -> PaymentState:
            self.calls.append("payments.authorize")
            self.authorize_attempts += 1
            await self._behave("payments.authorize")
            if params.card_token == "tok_declined":
                raise ApplicationError("card declined", type="PaymentDeclined", non_retryable=True)
            if params.card_token == "tok_flaky" and activity.info().attempt <= 2:
                raise RuntimeError("processor unavailable (503)")
            return PaymentState(order_id=params.order_id, status="AUTHORIZED", payment_id="p1")

        @activity.defn(name="payments.void")
        async def void(params: VoidPayment) -> PaymentState:
            self.calls.append("payments.void")
            await self._behave("payments.void", undo=True)
            return PaymentState(order_id=params.order_id, status="VOIDED", payment_id="p1")

        @activity.defn(name="notifications.send")
        async def send(params: SendMessage) -> MessageSent:
            self.calls.append(f"notifications.send:{params.template}")
            self.messages.append(params.template)
            return MessageSent(message_id=uuid.uuid4().hex, status="SENT")

        @activity.defn(name="orders.record_alert")
        async def record_alert(params: RecordAlert) -> AlertRecorded:
            self.calls.append(f"orders.record_alert:{params.step}")
            self.alerts.append(params)
            return AlertRecorded(order_id=params.order_id, kind=params.kind, step=params.step)

        return [create, transition, cancel, record_alert, reserve, release, authorize, void, send]


def order_input(order_id: str | None = None, card: str = "tok_visa") -> OrderFulfillmentInput:
    return OrderFulfillmentInput(
        order_id=order_id or uuid.uuid4().hex[:12],
        customer_id="alice",
        customer_email="alice@example.com",
        currency="EUR",
        lines=[OrderLine(sku="MUG-RED", quantity=2, unit_price_cents=1200)],
        shipping_address=ShippingAddress(
            name="Alice", line1="1 Street", city="Berlin", postal_code="10115", country="DE"
        ),
        card_token=card,
    )


@asynccontextmanager
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(TEST_SERVER))
    try:
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def running_worker(client: Client, fakes: Fakes, workflows: list[type] | None = None) -> AsyncIterator[str]:
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client, task_queue=task_queue, workflows=workflows or [OrderFulfillment], activities=fakes.activities()
    ):
        yield task_queue


async def start_order(client: Client, task_queue: str, params: OrderFulfillmentInput) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        OrderFulfillment.run, params, id=workflow_id(params.order_id), task_queue=task_queue
    )


async def until_settled(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any], limit: int = 300) -> OrderSnapshot:
    """Advance time until the order reaches AWAITING_WAVE or CANCELLED."""
    for _ in range(limit):
        snapshot: OrderSnapshot = await handle.query(OrderFulfillment.status)
        if snapshot.status in ("AWAITING_WAVE", "CANCELLED"):
            return snapshot
        await env.sleep(timedelta(seconds=1))
    raise AssertionError("order did not settle")
