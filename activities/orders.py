"""Activities of the orders service."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from temporalio import activity

from activities.base import ServiceClient, idempotency_key, raise_for_rejection


@dataclass(frozen=True)
class OrderLine:
    """One priced line; also the workflow input's line type."""

    sku: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class ShippingAddress:
    """Where the order goes; also the workflow input's address type."""

    name: str
    line1: str
    city: str
    postal_code: str
    country: str


@dataclass(frozen=True)
class CreateOrder:
    order_id: str
    customer_id: str
    customer_email: str
    currency: str
    lines: list[OrderLine]
    shipping_address: ShippingAddress


@dataclass(frozen=True)
class TransitionOrder:
    order_id: str
    status: str
    #: The ERP's sales order number; only with ``AWAITING_WAVE`` (set once on the order).
    erp_document_number: str | None = None


@dataclass(frozen=True)
class CancelOrder:
    order_id: str
    reason: str
    requested_by: str | None = None


@dataclass(frozen=True)
class RecordAlert:
    """Something operators must settle by hand (e.g. an undo that can never succeed)."""

    order_id: str
    kind: str
    step: str
    detail: str


@dataclass(frozen=True)
class AlertRecorded:
    order_id: str
    kind: str
    step: str


@dataclass(frozen=True)
class OrderState:
    order_id: str
    status: str | None
    cancel_reason: str | None = None
    total_cents: int = 0


class OrdersClient(ServiceClient):
    """Typed client of the orders service."""


def _state(body: dict[str, object], order_id: str) -> OrderState:
    return OrderState(
        order_id=order_id,
        status=str(body["status"]) if body.get("status") else None,
        cancel_reason=str(body["cancel_reason"]) if body.get("cancel_reason") else None,
        total_cents=int(str(body.get("total_cents") or 0)),
    )


class OrdersActivities:
    def __init__(self, client: OrdersClient) -> None:
        self.client = client

    @activity.defn(name="orders.create")
    async def create(self, params: CreateOrder) -> OrderState:
        """Record the order as PENDING. Idempotency key ``<workflow id>:create``."""
        resp = await self.client.post("/orders", asdict(params), idempotency_key("create"))
        raise_for_rejection(resp)
        return _state(resp.json(), params.order_id)

    @activity.defn(name="orders.transition")
    async def transition(self, params: TransitionOrder) -> OrderState:
        """Move the order to ``status`` (with its ERP document number, when given).

        Idempotency key ``<workflow id>:status:<STATUS>``.
        """
        payload: dict[str, object] = {"status": params.status}
        if params.erp_document_number is not None:
            payload["erp_document_number"] = params.erp_document_number
        resp = await self.client.post(
            f"/orders/{params.order_id}/transition", payload, idempotency_key(f"status:{params.status}")
        )
        raise_for_rejection(resp)
        return _state(resp.json(), params.order_id)

    @activity.defn(name="orders.cancel")
    async def cancel(self, params: CancelOrder) -> OrderState:
        """Compensation: cancel with ``reason`` and who asked; an order never created has nothing to undo.

        Idempotency key ``<workflow id>:cancel``.
        """
        resp = await self.client.post(
            f"/orders/{params.order_id}/cancel",
            {"reason": params.reason, "requested_by": params.requested_by},
            idempotency_key("cancel"),
        )
        if resp.status_code == 404:
            return OrderState(order_id=params.order_id, status=None)
        raise_for_rejection(resp, undo=True)
        return _state(resp.json(), params.order_id)

    @activity.defn(name="orders.record_alert")
    async def record_alert(self, params: RecordAlert) -> AlertRecorded:
        """Flag the order for operators. Idempotency key ``<workflow id>:alert:<kind>:<step>``."""
        resp = await self.client.post(
            f"/orders/{params.order_id}/alerts",
            {"kind": params.kind, "step": params.step, "detail": params.detail},
            idempotency_key(f"alert:{params.kind}:{params.step}"),
        )
        raise_for_rejection(resp)
        return AlertRecorded(order_id=params.order_id, kind=params.kind, step=params.step)


@dataclass(frozen=True)
class ShippedLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class ShipOrder:
    order_id: str
    tracking_code: str
    carrier: str
    shipped_lines: list[ShippedLine]


@dataclass(frozen=True)
class ChangeAddress:
    order_id: str
    shipping_address: ShippingAddress
    ref: str


class FulfilmentActivities:
    """The orders calls of the warehouse steps: shipping the order, changing its address."""

    def __init__(self, client: OrdersClient) -> None:
        self.client = client

    @activity.defn(name="orders.ship")
    async def ship(self, params: ShipOrder) -> OrderState:
        """Move the order to SHIPPED with its tracking code and shipped lines. Key ``<workflow id>:status:SHIPPED``."""
        payload = {
            "status": "SHIPPED",
            "tracking_code": params.tracking_code,
            "carrier": params.carrier,
            "shipped_lines": [asdict(line) for line in params.shipped_lines],
        }
        resp = await self.client.post(
            f"/orders/{params.order_id}/transition", payload, idempotency_key("status:SHIPPED")
        )
        raise_for_rejection(resp)
        return _state(resp.json(), params.order_id)

    @activity.defn(name="orders.change_address")
    async def change_address(self, params: ChangeAddress) -> OrderState:
        """Replace the shipping address (``AddressLocked`` once packed). Key ``<workflow id>:change_address:<ref>``."""
        resp = await self.client.put(
            f"/orders/{params.order_id}/shipping-address",
            {"shipping_address": asdict(params.shipping_address)},
            idempotency_key(f"change_address:{params.ref}"),
        )
        raise_for_rejection(resp)
        return _state(resp.json(), params.order_id)
