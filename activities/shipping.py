"""Activities of the shipping service: cartons and labels."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from temporalio import activity

from activities.base import ServiceClient, idempotency_key, raise_for_rejection
from activities.orders import ShippingAddress


@dataclass(frozen=True)
class ChooseCarton:
    weight_grams: int
    volume_cm3: int


@dataclass(frozen=True)
class Carton:
    code: str
    volume_cm3: int
    max_weight_grams: int


@dataclass(frozen=True)
class BuyLabel:
    order_id: str
    carton: str
    weight_grams: int
    volume_cm3: int
    service_level: str
    destination: ShippingAddress


@dataclass(frozen=True)
class Label:
    shipment_id: str
    tracking_code: str
    carrier: str
    rate_cents: int
    currency: str


@dataclass(frozen=True)
class VoidLabel:
    order_id: str


@dataclass(frozen=True)
class ShipmentState:
    order_id: str
    status: str | None


class ShippingClient(ServiceClient):
    """Typed client of the shipping service."""


class ShippingActivities:
    def __init__(self, client: ShippingClient) -> None:
        self.client = client

    @activity.defn(name="shipping.choose_carton")
    async def choose_carton(self, params: ChooseCarton) -> Carton:
        """The smallest carton that fits (``NoCartonFits`` is final). A read: no key."""
        resp = await self.client.post("/cartons/choose", asdict(params), None)
        raise_for_rejection(resp)
        body = resp.json()
        return Carton(
            code=str(body["code"]), volume_cm3=int(body["volume_cm3"]), max_weight_grams=int(body["max_weight_grams"])
        )

    @activity.defn(name="shipping.buy_label")
    async def buy_label(self, params: BuyLabel) -> Label:
        """Rate-shop and buy a label; carriers down is 503, retried. Key ``<workflow id>:label``."""
        resp = await self.client.post("/shipments", asdict(params), idempotency_key("label"))
        raise_for_rejection(resp)
        body = resp.json()
        return Label(
            shipment_id=str(body["shipment_id"]),
            tracking_code=str(body["tracking_code"]),
            carrier=str(body["carrier"]),
            rate_cents=int(body.get("rate_cents") or 0),
            currency=str(body.get("currency") or ""),
        )

    @activity.defn(name="shipping.void_label")
    async def void_label(self, params: VoidLabel) -> ShipmentState:
        """Compensation: void the label; none is success. Key ``<workflow id>:void_label``."""
        resp = await self.client.post(f"/shipments/{params.order_id}/void", None, idempotency_key("void_label"))
        raise_for_rejection(resp, undo=True)
        return ShipmentState(order_id=params.order_id, status=resp.json().get("status"))
