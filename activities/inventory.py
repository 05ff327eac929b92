"""Activities of the inventory service."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity

from activities.base import ServiceClient, idempotency_key, raise_for_rejection


@dataclass(frozen=True)
class ReserveLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class ReserveStock:
    order_id: str
    lines: list[ReserveLine]


@dataclass(frozen=True)
class ReleaseStock:
    order_id: str


@dataclass(frozen=True)
class ReservationState:
    order_id: str
    status: str | None


class InventoryClient(ServiceClient):
    """Typed client of the inventory service."""


class InventoryActivities:
    def __init__(self, client: InventoryClient) -> None:
        self.client = client

    @activity.defn(name="inventory.reserve")
    async def reserve(self, params: ReserveStock) -> ReservationState:
        """Hold every line or none; ``OutOfStock`` / ``UnknownSku`` / ``ReservationReleased``
        (409: the release ran first, this reserve came too late) are not retried.

        Idempotency key ``<workflow id>:reserve``.
        """
        payload = {
            "order_id": params.order_id,
            "lines": [{"sku": line.sku, "quantity": line.quantity} for line in params.lines],
        }
        resp = await self.client.post("/reservations", payload, idempotency_key("reserve"))
        raise_for_rejection(resp)
        return ReservationState(order_id=params.order_id, status=resp.json()["status"])

    @activity.defn(name="inventory.release")
    async def release(self, params: ReleaseStock) -> ReservationState:
        """Compensation: give the stock back; nothing held is success. Key ``<workflow id>:release``."""
        resp = await self.client.post(f"/reservations/{params.order_id}/release", None, idempotency_key("release"))
        raise_for_rejection(resp, undo=True)
        return ReservationState(order_id=params.order_id, status=resp.json()["status"])
