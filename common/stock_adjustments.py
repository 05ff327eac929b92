"""Carry inventory's stock adjustments into the warehouse's adjustment bin (docs/erp.md, part D).

Every on-hand count the ERP sets in inventory writes an adjustment row (SKU,
delta) in the same transaction. The warehouse must add the same delta to its
stock-adjustment bin, or its bins stop adding up to inventory's ``on_hand``.
A service never calls another, so the callers that set the counts carry them:
the import's stock pages (``erp.import_page``) and the gateway after a
``StockChanged`` event. :func:`post_pending` reads the pending adjustments
oldest first, posts them to the warehouse (which applies each id once) and
then marks them posted in inventory. A crash between the two steps leaves them
pending; the next carrier posts them again and the warehouse answers
``duplicate``, so no unit is lost or doubled, also with two carriers at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import httpx

#: Adjustments per round trip (the warehouse takes up to 1,000).
BATCH = 500
#: Paths on inventory and the warehouse.
PENDING_PATH = "/stock/adjustments"
POSTED_PATH = "/stock/adjustments/posted"
APPLY_PATH = "/stock/adjustments"


class Service(Protocol):
    """What :func:`post_pending` needs of a service client (``activities.base.ServiceClient`` has it)."""

    async def get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response: ...

    async def post(self, path: str, payload: dict[str, Any] | None, key: str | None) -> httpx.Response: ...


async def post_pending(
    inventory: Service, warehouse: Service, check: Callable[[httpx.Response], None], *, batch: int = BATCH
) -> int:
    """Post every pending adjustment to the warehouse and mark it posted; the number carried.

    Args:
        inventory: Inventory's client (lists and marks the adjustments).
        warehouse: The warehouse's client (applies them to its adjustment bin).
        check: Raises the caller's error for a non-2xx answer (retryable for a 5xx).
        batch: Adjustments per round trip.

    Raises whatever ``check`` raises, and ``httpx.HTTPError`` for a service out of reach.
    """
    carried = 0
    previous: set[int] = set()
    while True:
        resp = await inventory.get(PENDING_PATH, {"pending": "true", "limit": str(batch)})
        check(resp)
        items: list[dict[str, Any]] = resp.json()["items"]
        if not items:
            return carried
        ids = [int(item["id"]) for item in items]
        if previous.intersection(ids):  # marked in the last round, yet pending: never loop on the same rows
            raise RuntimeError(f"adjustments {sorted(previous.intersection(ids))[:5]} are still pending")
        applied = await warehouse.post(
            APPLY_PATH,
            {"items": [{"id": int(item["id"]), "sku": item["sku"], "delta": int(item["delta"])} for item in items]},
            None,
        )
        check(applied)
        marked = await inventory.post(POSTED_PATH, {"ids": ids}, None)
        check(marked)
        carried += len(ids)
        previous = set(ids)
        if len(items) < batch:
            return carried
