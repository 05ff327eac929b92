"""Activities after the dock: tracking subscriptions and notices, and the undo of a failed delivery.

``tracking.*`` call the shipping service (which owns shipments, their trail and
subscriptions) and, for notices, the notifications service. The delivery-failure
steps call payments, inventory and warehouse, each with its own idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity

from activities.base import idempotency_key, raise_for_rejection
from activities.inventory import InventoryClient
from activities.notifications import NotificationsClient
from activities.payments import PaymentsClient, PaymentState
from activities.shipping import ShippingClient
from activities.warehouse import OrderRef, PickLine, WarehouseClient


@dataclass(frozen=True)
class Subscribe:
    """Subscribe a user to a tracking code (the order's customer, when the order ships)."""

    tracking_code: str
    username: str
    email: str
    title: str


@dataclass(frozen=True)
class DeliveryEvent:
    """A shipment's status changed: OrderFulfillment's signal ``delivery_event`` (from the gateway's
    carrier webhook), and what ``tracking.notify_subscribers`` tells each subscriber once.

    The workflow ignores a repeated ``event_id``, or an event older than the last one it handled.
    """

    event_id: str
    tracking_code: str
    status: str
    occurred_at: str
    carrier: str | None = None
    reason: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class NoticesSent:
    tracking_code: str
    event_id: str
    recipients: int


@dataclass(frozen=True)
class RefundPayment:
    order_id: str
    amount_cents: int


@dataclass(frozen=True)
class ReturnStock:
    """Issued units that came back (a failed delivery) return to ``on_hand``."""

    order_id: str
    lines: list[PickLine]


@dataclass(frozen=True)
class ReturnState:
    order_id: str
    status: str | None


class TrackingActivities:
    def __init__(self, shipping: ShippingClient, notifications: NotificationsClient) -> None:
        self.shipping = shipping
        self.notifications = notifications

    @activity.defn(name="tracking.subscribe")
    async def subscribe(self, params: Subscribe) -> None:
        """Subscribe ``username`` (repeat-safe: a second subscription updates the first)."""
        payload = {"username": params.username, "email": params.email, "title": params.title}
        resp = await self.shipping.post(
            f"/tracking/{params.tracking_code}/subscriptions", payload, idempotency_key("subscribe")
        )
        raise_for_rejection(resp)

    @activity.defn(name="tracking.notify_subscribers")
    async def notify_subscribers(self, params: DeliveryEvent) -> NoticesSent:
        """One ``tracking_update`` message per subscriber and event.

        Each message's key is ``track:<event id>:<username>``, so a retry (or the
        same event forwarded twice) never sends a subscriber a second copy.
        """
        resp = await self.shipping.get(f"/tracking/{params.tracking_code}/subscriptions")
        raise_for_rejection(resp)
        subscribers = resp.json()
        for subscriber in subscribers:
            payload = {
                "channel": "email",
                "recipient": subscriber["email"],
                "template": "tracking_update",
                "order_id": None,
                "context": {
                    "tracking_code": params.tracking_code,
                    "title": subscriber["title"],
                    "status": params.status,
                    "occurred_at": params.occurred_at,
                    "reason": params.reason,
                    "location": params.location,
                    "carrier": params.carrier,
                },
            }
            sent = await self.notifications.post(
                "/messages", payload, f"track:{params.event_id}:{subscriber['username']}"
            )
            raise_for_rejection(sent)
        return NoticesSent(tracking_code=params.tracking_code, event_id=params.event_id, recipients=len(subscribers))


class ReturnActivities:
    """A delivery that failed for good: the money and the goods come back."""

    def __init__(self, payments: PaymentsClient, inventory: InventoryClient, warehouse: WarehouseClient) -> None:
        self.payments = payments
        self.inventory = inventory
        self.warehouse = warehouse

    @activity.defn(name="payments.refund")
    async def refund(self, params: RefundPayment) -> PaymentState:
        """Refund ``amount_cents`` of the capture. Key ``<workflow id>:refund``."""
        resp = await self.payments.post(
            "/payments/refund",
            {"order_id": params.order_id, "amount_cents": params.amount_cents},
            idempotency_key("refund"),
        )
        raise_for_rejection(resp, undo=True)
        body = resp.json()
        return PaymentState(order_id=params.order_id, status=body.get("status"), payment_id=body.get("payment_id"))

    @activity.defn(name="inventory.return")
    async def return_stock(self, params: ReturnStock) -> ReturnState:
        """The issued units are back in ``on_hand``. Key ``<workflow id>:return``."""
        payload = {"lines": [{"sku": line.sku, "quantity": line.quantity} for line in params.lines]}
        resp = await self.inventory.post(f"/reservations/{params.order_id}/return", payload, idempotency_key("return"))
        raise_for_rejection(resp, undo=True)
        return ReturnState(order_id=params.order_id, status=resp.json().get("status"))

    @activity.defn(name="warehouse.restock")
    async def restock(self, params: OrderRef) -> ReturnState:
        """The issued units go back into the bins they were picked from. Key ``<workflow id>:restock``."""
        resp = await self.warehouse.post(f"/orders/{params.order_id}/restock", None, idempotency_key("restock"))
        raise_for_rejection(resp, undo=True)
        return ReturnState(order_id=params.order_id, status=resp.json().get("status"))


__all__ = [
    "DeliveryEvent",
    "NoticesSent",
    "RefundPayment",
    "ReturnActivities",
    "ReturnState",
    "ReturnStock",
    "Subscribe",
    "TrackingActivities",
]
