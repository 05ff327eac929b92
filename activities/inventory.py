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


@dataclass(frozen=True)
class AdjustReservation:
    """Change one line of an order's reservation (short picks); ``ref`` makes the key (the short task's id)."""

    order_id: str
    sku: str
    quantity: int
    ref: str
    reason: str = "SHORT_PICK"


@dataclass(frozen=True)
class CommitStock:
    order_id: str


@dataclass(frozen=True)
class SkuList:
    skus: list[str]


@dataclass(frozen=True)
class ProductDimensions:
    sku: str
    weight_grams: int
    volume_cm3: int


class StockActivities:
    """The warehouse steps' inventory calls: short-pick adjustments, goods issue and dimensions."""

    def __init__(self, client: InventoryClient) -> None:
        self.client = client

    async def _adjust(self, op: str, params: AdjustReservation, payload: dict[str, object]) -> ReservationState:
        resp = await self.client.post(
            f"/reservations/{params.order_id}/{op}", payload, idempotency_key(f"{op}:{params.ref}")
        )
        raise_for_rejection(resp)
        return ReservationState(order_id=params.order_id, status=resp.json().get("status"))

    @activity.defn(name="inventory.write_off")
    async def write_off(self, params: AdjustReservation) -> ReservationState:
        """Units missing at a bin leave the order's reservation and ``on_hand``. Key ``<wf>:write-off:<ref>``."""
        payload = {"sku": params.sku, "quantity": params.quantity, "reason": params.reason}
        return await self._adjust("write-off", params, payload)

    @activity.defn(name="inventory.top_up")
    async def top_up(self, params: AdjustReservation) -> ReservationState:
        """Reserve more units for the order (``OutOfStock`` is final). Key ``<wf>:top-up:<ref>``."""
        return await self._adjust("top-up", params, {"sku": params.sku, "quantity": params.quantity})

    @activity.defn(name="inventory.release_units")
    async def release_units(self, params: AdjustReservation) -> ReservationState:
        """Give some held units back (a short-ship). Key ``<wf>:release-units:<ref>``."""
        return await self._adjust("release-units", params, {"sku": params.sku, "quantity": params.quantity})

    @activity.defn(name="inventory.commit")
    async def commit(self, params: CommitStock) -> ReservationState:
        """Goods issue: what the reservation holds leaves ``on_hand``. Key ``<workflow id>:commit``."""
        resp = await self.client.post(f"/reservations/{params.order_id}/commit", None, idempotency_key("commit"))
        raise_for_rejection(resp)
        return ReservationState(order_id=params.order_id, status=resp.json().get("status"))

    @activity.defn(name="inventory.dimensions")
    async def dimensions(self, params: SkuList) -> list[ProductDimensions]:
        """Weight and volume per SKU (a read)."""
        found: list[ProductDimensions] = []
        for sku in sorted(set(params.skus)):
            resp = await self.client.get(f"/products/{sku}")
            raise_for_rejection(resp)
            body = resp.json()
            found.append(
                ProductDimensions(
                    sku=sku,
                    weight_grams=int(body.get("weight_grams") or 0),
                    volume_cm3=int(body.get("volume_cm3") or 0),
                )
            )
        return found
