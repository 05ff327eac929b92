"""Activities of the order export: an accepted order becomes a sales order in the ERP.

``POST /odata/SalesOrders`` on the ERP (``PAKLOG_ERP_URL``, the stand-in
``services/erp``) with ``PurchaseOrderByCustomer`` = the order id: the ERP's
own exactly-once key. A retry of a call that committed answers 200 with the
same sales order, so the activity sends no ``Idempotency-Key``. The answer's
``SalesOrder`` is the order's ERP document number.

Errors: 422 ``CustomerBlocked`` and ``UnknownMaterial`` are the ERP's business
"no" and 409 ``DuplicatePurchaseOrder`` (the order id was exported before with
other content) cannot change on a retry: non-retryable, with the ERP's type.
5xx (``ErpUnavailable``, ``ErpInternalError``), 401/408/429, timeouts and
connection errors are retryable (``ServiceCallError``): the ERP being down
keeps the order waiting, never cancels it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from temporalio import activity

from activities.base import ServiceCallError, raise_for_rejection
from activities.erp_sync import ErpClient
from activities.orders import OrderLine

#: The ERP's business rejections of an export (422); the workflow cancels the order ``ERP_REJECTED``.
CUSTOMER_BLOCKED = "CustomerBlocked"
UNKNOWN_MATERIAL = "UnknownMaterial"
#: 409: the order id is a sales order already, created with other content.
DUPLICATE_PURCHASE_ORDER = "DuplicatePurchaseOrder"


@dataclass(frozen=True)
class CreateSalesOrder:
    """The order as the ERP takes it: who ordered (by e-mail), the currency and the priced lines."""

    order_id: str
    customer_email: str
    currency: str
    lines: list[OrderLine]


@dataclass(frozen=True)
class SalesOrderCreated:
    order_id: str
    #: The ERP's ``SalesOrder`` number (10 digits in the stand-in).
    document_number: str
    #: False when the ERP had created it before (a retry after a lost answer).
    created: bool


def net_price(cents: int) -> str:
    """Minor units as the ERP's two-place decimal string: 1200 → ``"12.00"``."""
    return f"{cents // 100}.{cents % 100:02d}"


def sales_order_body(params: CreateSalesOrder) -> dict[str, Any]:
    """The ``POST /odata/SalesOrders`` body; every unit price is sent, so a later price change cannot alter it."""
    return {
        "PurchaseOrderByCustomer": params.order_id,
        "CustomerEmail": params.customer_email,
        "Currency": params.currency,
        "Items": [
            {"Material": line.sku, "RequestedQuantity": line.quantity, "NetPrice": net_price(line.unit_price_cents)}
            for line in params.lines
        ],
    }


class ErpOrdersActivities:
    """The export's one step, bound to the ERP."""

    def __init__(self, erp: ErpClient) -> None:
        self.erp = erp

    @activity.defn(name="erp.create_sales_order")
    async def create_sales_order(self, params: CreateSalesOrder) -> SalesOrderCreated:
        """Create the order's sales order in the ERP, exactly once per order id.

        No ``Idempotency-Key``: ``PurchaseOrderByCustomer`` (the order id) is the
        ERP's own key, and the same body again answers the existing sales order.

        Raises:
            ApplicationError: ``CustomerBlocked``, ``UnknownMaterial`` (422) or
                ``DuplicatePurchaseOrder`` (409), non-retryable; any other 4xx
                likewise, with the ERP's type.
            ServiceCallError: the ERP answered 5xx (or 401/408/429), timed out,
                or could not be reached; retried.
        """
        try:
            resp = await self.erp.post("/odata/SalesOrders", sales_order_body(params), None)
        except httpx.TransportError as exc:
            raise ServiceCallError(f"the ERP is unreachable: {exc!r}") from exc
        raise_for_rejection(resp)
        body = resp.json()
        number = body.get("SalesOrder") if isinstance(body, dict) else None
        if not isinstance(number, str) or not number:
            # Not an answer the contract knows; a retry asks again (and gets the same sales order).
            raise ServiceCallError(f"the ERP answered {resp.status_code} without a SalesOrder: {resp.text[:200]}")
        return SalesOrderCreated(order_id=params.order_id, document_number=number, created=resp.status_code == 201)
