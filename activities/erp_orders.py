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

The undo, ``erp.cancel_sales_order``, takes the same request. It may run while
the export's own request is still on its way (a cancel abandons the step, not
the HTTP call), so it first posts the very same body again: the ERP's key makes
that answer the sales order whichever request arrived first (200), or create it
now (201), and a late export then answers that same order. It then sets that
order's ``OverallStatus`` to ``CANCELLED`` with ``If-Match`` = the ETag it was
answered with, so nothing another writer changed meanwhile is overwritten
(412: retried, which reads the order again).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.base import ServiceCallError, raise_for_rejection
from activities.erp_sync import ErpClient
from activities.orders import OrderLine

#: The ERP's business rejections of an export (422); the workflow cancels the order ``ERP_REJECTED``.
CUSTOMER_BLOCKED = "CustomerBlocked"
UNKNOWN_MATERIAL = "UnknownMaterial"
#: 409: the order id is a sales order already, created with other content.
DUPLICATE_PURCHASE_ORDER = "DuplicatePurchaseOrder"
#: The ERP's rejections of a create that mean no sales order exists for the order id (nothing to undo).
NOTHING_CREATED = frozenset({CUSTOMER_BLOCKED, UNKNOWN_MATERIAL})
#: The undo met a ``COMPLETED`` sales order (delivered and billed in the ERP): cancelling it would hide
#: a bill already sent, so operators settle it there (a credit memo). Never retried.
SALES_ORDER_COMPLETED = "SalesOrderCompleted"
#: The sales order's ``OverallStatus`` values the undo tells apart.
STATUS_CANCELLED = "CANCELLED"
STATUS_COMPLETED = "COMPLETED"
#: ``SalesOrderCancelled.outcome``.
CANCELLED = "cancelled"
ALREADY_CANCELLED = "already_cancelled"
NEVER_CREATED = "never_created"


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


@dataclass(frozen=True)
class SalesOrderCancelled:
    order_id: str
    #: The sales order undone; None when the ERP never created one (``never_created``).
    document_number: str | None
    #: ``cancelled`` (now), ``already_cancelled`` (the ERP, or an earlier attempt, had done it),
    #: ``never_created`` (the ERP refuses the order: no sales order can exist for it).
    outcome: str


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


def _error_type(resp: httpx.Response) -> str | None:
    try:
        body = resp.json()
    except ValueError:
        return None
    error_type = body.get("type") if isinstance(body, dict) else None
    return error_type if isinstance(error_type, str) else None


def _sales_order(resp: httpx.Response) -> dict[str, Any]:
    """A 2xx answer's sales order; one without its number is retried (a retry answers the same order)."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    number = body.get("SalesOrder") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not isinstance(number, str) or not number:
        raise ServiceCallError(f"the ERP answered {resp.status_code} without a SalesOrder: {resp.text[:200]}")
    return body


class ErpOrdersActivities:
    """The export's step and its undo, bound to the ERP."""

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
        resp = await self._post(params)
        raise_for_rejection(resp)
        number = _sales_order(resp)["SalesOrder"]
        return SalesOrderCreated(order_id=params.order_id, document_number=number, created=resp.status_code == 201)

    @activity.defn(name="erp.cancel_sales_order")
    async def cancel_sales_order(self, params: CreateSalesOrder) -> SalesOrderCancelled:
        """Undo the export: the order's sales order ``CANCELLED`` in the ERP, whether or not the export got there.

        Idempotency: the purchase order number (the order id), as for the export. The
        same body is posted again first, so the sales order is found (200) or made now
        (201) even while the export's own request is still in flight (which then
        answers this same order); then ``PATCH OverallStatus = CANCELLED`` with
        ``If-Match`` = that answer's ETag. A repeat finds it ``CANCELLED`` and changes
        nothing. Errors are an undo's (``raise_for_rejection(undo=True)``): the
        workflow's retry policy decides which rejections are final.

        Raises:
            ApplicationError: ``SalesOrderCompleted`` (the ERP has completed it: operators
                settle it), or another 4xx with the ERP's type (``DuplicatePurchaseOrder``:
                the order id is a sales order with other content).
            ServiceCallError: 412 (it changed between the two calls), 5xx, 401/408/429,
                timeouts and connection errors; retried.
        """
        resp = await self._post(params)
        if resp.status_code == 422 and _error_type(resp) in NOTHING_CREATED:
            # The ERP refuses to create it, and it answers an existing order before it checks anything.
            return SalesOrderCancelled(order_id=params.order_id, document_number=None, outcome=NEVER_CREATED)
        raise_for_rejection(resp, undo=True)
        order = _sales_order(resp)
        number: str = order["SalesOrder"]
        status = order.get("OverallStatus")
        if status == STATUS_CANCELLED:
            return SalesOrderCancelled(order_id=params.order_id, document_number=number, outcome=ALREADY_CANCELLED)
        if status == STATUS_COMPLETED:
            raise ApplicationError(
                f"sales order {number} of order {params.order_id} is COMPLETED in the ERP: it cannot be cancelled",
                {"SalesOrder": number, "OverallStatus": status},
                type=SALES_ORDER_COMPLETED,
            )
        etag = resp.headers.get("ETag") or order.get("@odata.etag")
        if not isinstance(etag, str) or not etag:
            # Never a blind "*": that could overwrite a change we have not seen. Asking again gets one.
            raise ServiceCallError(f"the ERP answered sales order {number} without an ETag")
        try:
            changed = await self.erp.patch(f"/odata/SalesOrders('{number}')", {"OverallStatus": STATUS_CANCELLED}, etag)
        except httpx.TransportError as exc:
            raise ServiceCallError(f"the ERP is unreachable: {exc!r}") from exc
        if changed.status_code == 412:
            raise ServiceCallError(f"sales order {number} changed since {etag}; reading it again")
        raise_for_rejection(changed, undo=True)
        return SalesOrderCancelled(order_id=params.order_id, document_number=number, outcome=CANCELLED)

    async def _post(self, params: CreateSalesOrder) -> httpx.Response:
        try:
            return await self.erp.post("/odata/SalesOrders", sales_order_body(params), None)
        except httpx.TransportError as exc:
            raise ServiceCallError(f"the ERP is unreachable: {exc!r}") from exc
