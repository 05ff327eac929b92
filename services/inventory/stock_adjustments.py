"""The stock adjustments the ERP's counts make, for the warehouse's stock-adjustment bin (docs/erp.md, part D).

The ERP is the master of on-hand counts, and the warehouse holds the same
units in its bins. A count says how many, never where, so every change it
makes to ``on_hand`` is written down (``set_stock``, in the statement that
changes the count) and carried to the warehouse, which adds each delta once to
its stock-adjustment bin. The carrier reads the pending ones oldest first,
posts them to the warehouse, then marks them posted here; the warehouse
applies each id once, so a repeat of either step neither loses nor doubles a
unit.
"""

from __future__ import annotations

from services.inventory.models import AdjustmentsPosted, StockAdjustmentPage, StockAdjustmentPublic
from services.inventory.repository import InventoryRepository


async def list_adjustments(
    repo: InventoryRepository, *, pending: bool | None, sku: str | None, limit: int, offset: int
) -> StockAdjustmentPage:
    """A page of adjustments, oldest first (see :meth:`InventoryRepository.adjustments`)."""
    rows, total = await repo.adjustments(pending=pending, sku=sku, limit=limit, offset=offset)
    return StockAdjustmentPage(
        items=[StockAdjustmentPublic.model_validate(row._mapping) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


async def mark_posted(repo: InventoryRepository, ids: list[int]) -> AdjustmentsPosted:
    """Mark the adjustments the warehouse took; those already posted and unknown ids count for nothing."""
    return AdjustmentsPosted(posted=await repo.post_adjustments(ids))
