"""Activities of the payments service."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity

from activities.base import ServiceClient, idempotency_key, raise_for_rejection


@dataclass(frozen=True)
class AuthorizePayment:
    order_id: str
    amount_cents: int
    currency: str
    card_token: str


@dataclass(frozen=True)
class VoidPayment:
    order_id: str


@dataclass(frozen=True)
class PaymentState:
    order_id: str
    status: str | None
    payment_id: str | None = None


class PaymentsClient(ServiceClient):
    """Typed client of the payments service."""


class PaymentsActivities:
    def __init__(self, client: PaymentsClient) -> None:
        self.client = client

    @activity.defn(name="payments.authorize")
    async def authorize(self, params: AuthorizePayment) -> PaymentState:
        """Authorize the amount; a decline (402) is ``PaymentDeclined`` and is not retried,
        a processor outage (503) is retried with backoff; ``PaymentVoided`` (409: the
        void ran first, this authorize came too late) is not retried.

        Idempotency key ``<workflow id>:authorize``.
        """
        payload = {
            "order_id": params.order_id,
            "amount_cents": params.amount_cents,
            "currency": params.currency,
            "card_token": params.card_token,
        }
        resp = await self.client.post("/payments/authorize", payload, idempotency_key("authorize"))
        raise_for_rejection(resp)
        body = resp.json()
        return PaymentState(order_id=params.order_id, status=body["status"], payment_id=body.get("payment_id"))

    @activity.defn(name="payments.void")
    async def void(self, params: VoidPayment) -> PaymentState:
        """Compensation: void the authorization; nothing to void is success. Key ``<workflow id>:void``."""
        resp = await self.client.post("/payments/void", {"order_id": params.order_id}, idempotency_key("void"))
        raise_for_rejection(resp, undo=True)
        body = resp.json()
        return PaymentState(order_id=params.order_id, status=body.get("status"), payment_id=body.get("payment_id"))


@dataclass(frozen=True)
class CapturePayment:
    """Capture what ships (the authorization's remainder is released)."""

    order_id: str
    amount_cents: int


class CaptureActivities:
    """Payment capture at shipment (PickPackShip)."""

    def __init__(self, client: PaymentsClient) -> None:
        self.client = client

    @activity.defn(name="payments.capture")
    async def capture(self, params: CapturePayment) -> PaymentState:
        """Capture ``amount_cents``; never twice. Key ``<workflow id>:capture``."""
        resp = await self.client.post(
            "/payments/capture",
            {"order_id": params.order_id, "amount_cents": params.amount_cents},
            idempotency_key("capture"),
        )
        raise_for_rejection(resp)
        body = resp.json()
        return PaymentState(order_id=params.order_id, status=body.get("status"), payment_id=body.get("payment_id"))
