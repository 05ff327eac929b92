"""Activities of the master-data import: read a page from the ERP, convert it, post it to the owning service.

The ERP (``PAKLOG_ERP_URL``, the stand-in ``services/erp``) answers
OData-style pages ordered by ``(LastChangedAt, key)``; ``$skiptoken=<ts>|<key>``
resumes strictly after a row. Materials and stock go to inventory
(``/erp/materials``, ``/erp/stock``), customers to identity
(``/erp/customers``), each page in one transaction with its last row's
position as the new watermark. One activity does the whole page so that the
rows never enter the workflow history: it answers counts and the watermark.

Units are converted with :class:`~decimal.Decimal`, rounding half up: kg → g,
L → cm³, the price → cents. A row the contract cannot hold (a unit we do not
know, a number that is not one) fails the import with ``InvalidErpData``:
importing it wrongly would be worse than stopping for an operator.
"""

from __future__ import annotations

import hashlib
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.base import ServiceCallError, ServiceClient, raise_for_rejection
from common.stock_adjustments import post_pending
from workflows.erp_types import (
    CUSTOMERS,
    INVALID_ERP_DATA,
    MATERIALS,
    STOCK,
    UNKNOWN_ENTITY,
    EntityRef,
    ImportPage,
    PageImported,
    StoredWatermark,
    Watermark,
)

#: The ERP's collection and key field per entity.
ENTITY_SETS: dict[str, tuple[str, str]] = {
    MATERIALS: ("Materials", "Material"),
    CUSTOMERS: ("Customers", "Customer"),
    STOCK: ("MaterialStock", "Material"),
}
#: Factors to the units PakLog keeps (grams, cubic centimetres).
GRAMS_PER = {"KG": Decimal(1000), "G": Decimal(1)}
CM3_PER = {"L": Decimal(1000), "DM3": Decimal(1000), "M3": Decimal(1_000_000), "CM3": Decimal(1)}
_ONE = Decimal(1)


class ErpClient(ServiceClient):
    """Typed client of the ERP's OData-style API (the service token opens it, as it does our services)."""

    async def patch(self, path: str, payload: dict[str, Any], if_match: str) -> httpx.Response:
        """Change an entity only while it is still at ``if_match`` (its ETag); else the ERP answers 412."""
        headers = {**self._auth, "If-Match": if_match}
        return await self.http.patch(f"{self.base_url}{path}", json=payload, headers=headers)


def _invalid(detail: str) -> ApplicationError:
    return ApplicationError(detail, type=INVALID_ERP_DATA, non_retryable=True)


def _decimal(text: Any, name: str) -> Decimal:
    """A decimal string as the ERP writes it (``"0.350"``); JSON numbers would lose digits, so only strings."""
    try:
        value = Decimal(text) if isinstance(text, str) else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        raise _invalid(f"{name} {text!r} is not a decimal string >= 0")
    return value


def _whole(value: Decimal) -> int:
    """Round half up to a whole number (``ROUND_HALF_UP``, not Python's banker's rounding)."""
    return int(value.quantize(_ONE, rounding=ROUND_HALF_UP))


def grams(weight: Any, unit: str = "KG") -> int:
    """``"0.350"`` kg → 350 g; half a gram rounds up."""
    factor = GRAMS_PER.get(unit.upper())
    if factor is None:
        raise _invalid(f"weight unit {unit!r} is not one of {sorted(GRAMS_PER)}")
    return _whole(_decimal(weight, "GrossWeight") * factor)


def cubic_centimetres(volume: Any, unit: str = "L") -> int:
    """``"1.250"`` L → 1250 cm³; half a cm³ rounds up."""
    factor = CM3_PER.get(unit.upper())
    if factor is None:
        raise _invalid(f"volume unit {unit!r} is not one of {sorted(CM3_PER)}")
    return _whole(_decimal(volume, "Volume") * factor)


def cents(price: Any) -> int:
    """``"12.00"`` → 1200; ``"0.125"`` → 13 (half a cent rounds up)."""
    return _whole(_decimal(price, "Price") * 100)


def material_item(row: dict[str, Any]) -> dict[str, Any]:
    """An ERP material as inventory's ``/erp/materials`` takes it."""
    try:
        return {
            "sku": row["Material"],
            "name": row["MaterialDescription"],
            "price_cents": cents(row["Price"]),
            "currency": row["Currency"],
            "weight_grams": grams(row["GrossWeight"], row.get("WeightUnit") or "KG"),
            "volume_cm3": cubic_centimetres(row["Volume"], row.get("VolumeUnit") or "L"),
            "ean": row.get("InternationalArticleNumber") or None,
            "changed_at": row["LastChangedAt"],
        }
    except KeyError as missing:
        raise _invalid(f"material {row.get('Material')!r} has no {missing}") from None
    except ApplicationError as bad:
        raise _invalid(f"material {row.get('Material')!r}: {bad.message}") from None


def customer_item(row: dict[str, Any]) -> dict[str, Any]:
    """An ERP customer as identity's ``/erp/customers`` takes it."""
    try:
        return {
            "customer_number": row["Customer"],
            "name": row["CustomerName"],
            "email": row.get("EmailAddress") or None,
            # An address part the ERP leaves empty (the one-time customer has none) stays empty, not null.
            "street": row.get("StreetName") or "",
            "city": row.get("CityName") or "",
            "postal_code": row.get("PostalCode") or "",
            "country": row.get("Country") or None,
            "delivery_blocked": bool(row.get("DeliveryIsBlocked", False)),
            "credit_blocked": bool(row.get("CreditIsBlocked", False)),
            "changed_at": row["LastChangedAt"],
        }
    except KeyError as missing:
        raise _invalid(f"customer {row.get('Customer')!r} has no {missing}") from None


def stock_item(row: dict[str, Any]) -> dict[str, Any]:
    """An ERP stock row as inventory's ``/erp/stock`` takes it."""
    try:
        on_hand = row["UnrestrictedStock"]
        if isinstance(on_hand, bool) or not isinstance(on_hand, int) or on_hand < 0:
            raise _invalid(f"UnrestrictedStock of {row['Material']!r} is {on_hand!r}")
        return {"sku": row["Material"], "on_hand": on_hand, "changed_at": row["LastChangedAt"]}
    except KeyError as missing:
        raise _invalid(f"stock row {row.get('Material')!r} has no {missing}") from None


CONVERT = {MATERIALS: material_item, CUSTOMERS: customer_item, STOCK: stock_item}


def page_key(entity: str, start: Watermark | None, end: Watermark) -> str:
    """The page's ``Idempotency-Key``: ``erp-sync-<entity>:<end ts>|<end key>:<digest of the start>``.

    Every change gets a new, strictly later ``LastChangedAt``, so from one
    start the same last row means the same rows with the same contents: a
    retried page that fetched the same rows sends the same key (and the
    service replays its answer); one that fetched a different page (a row
    changed meanwhile and moved to the end) ends elsewhere and sends another.
    The start's digest keeps a backfill's page apart from an earlier
    incremental page that happened to end at the same row.
    """
    begun = start.skiptoken() if start else ""
    digest = hashlib.sha256(begun.encode()).hexdigest()[:10]
    return f"erp-sync-{entity}:{end.skiptoken()}:{digest}"


def _watermark(body: Any) -> Watermark | None:
    if not isinstance(body, dict) or not body.get("changed_at") or body.get("key") is None:
        return None
    return Watermark(changed_at=str(body["changed_at"]), key=str(body["key"]))


class ErpSyncActivities:
    """The import's two steps, bound to the ERP and the two services that own master data."""

    def __init__(
        self, erp: ErpClient, inventory: ServiceClient, identity: ServiceClient, warehouse: ServiceClient
    ) -> None:
        self.erp = erp
        self.inventory = inventory
        self.warehouse = warehouse
        self.targets: dict[str, tuple[ServiceClient, str]] = {
            MATERIALS: (inventory, "/erp/materials"),
            STOCK: (inventory, "/erp/stock"),
            CUSTOMERS: (identity, "/erp/customers"),
        }

    def _target(self, entity: str) -> tuple[ServiceClient, str]:
        if entity not in self.targets:
            raise ApplicationError(f"no such entity {entity!r}", type=UNKNOWN_ENTITY, non_retryable=True)
        return self.targets[entity]

    @activity.defn(name="erp.load_watermark")
    async def load_watermark(self, params: EntityRef) -> StoredWatermark:
        """The watermark the owning service committed with its last page (a read: no key)."""
        service, _ = self._target(params.entity)
        resp = await service.get("/erp/watermarks")
        raise_for_rejection(resp)
        stored = resp.json().get(params.entity)
        rows = int(stored.get("rows") or 0) if isinstance(stored, dict) else 0
        return StoredWatermark(entity=params.entity, watermark=_watermark(stored), rows=rows)

    @activity.defn(name="erp.import_page")
    async def import_page(self, params: ImportPage) -> PageImported:
        """Import the page after ``params.watermark`` and commit it with its last row as the new watermark.

        Key :func:`page_key` (``erp-sync-<entity>:<last row>:<start digest>``).
        The ERP's 5xx, timeouts and connection errors are retried (from the same
        watermark); its 4xx (a request it cannot answer) and rows the contract
        cannot hold are not. A stock page then carries inventory's pending
        adjustments to the warehouse's adjustment bin (:func:`post_pending`),
        an empty page too, so what a crash left pending goes with the next run.
        """
        imported = await self._import_page(params)
        if params.entity == STOCK:
            await post_pending(self.inventory, self.warehouse, raise_for_rejection)
        return imported

    async def _import_page(self, params: ImportPage) -> PageImported:
        service, path = self._target(params.entity)
        collection, key_field = ENTITY_SETS[params.entity]
        query = {"$top": str(params.page_size)}
        if params.watermark is not None:
            query["$skiptoken"] = params.watermark.skiptoken()
        try:
            resp = await self.erp.get(f"/odata/{collection}", query)
        except httpx.TransportError as exc:
            raise ServiceCallError(f"the ERP is unreachable: {exc!r}") from exc
        raise_for_rejection(resp)
        body = resp.json()
        rows: list[dict[str, Any]] = body.get("value") or []
        if not rows:
            return PageImported(params.entity, 0, 0, 0, 0, 0, 0, params.watermark, more=False)
        convert = CONVERT[params.entity]
        items = [convert(row) for row in rows]
        last = rows[-1]
        end = Watermark(changed_at=str(last["LastChangedAt"]), key=str(last[key_field]))
        payload = {"items": items, "watermark": {"changed_at": end.changed_at, "key": end.key}}
        answer = await service.post(path, payload, page_key(params.entity, params.watermark, end))
        raise_for_rejection(answer)
        counts = answer.json()
        return PageImported(
            entity=params.entity,
            rows=len(rows),
            inserted=int(counts.get("inserted") or 0),
            updated=int(counts.get("updated") or 0),
            unchanged=int(counts.get("unchanged") or 0),
            rejected=len(counts.get("rejected") or []),
            unknown=len(counts.get("unknown") or []),
            watermark=end,
            more="@odata.nextLink" in body,
        )
