"""The stock-adjustment bin: ERP adjustments into it (docs/erp.md, part D).

The ERP is the master of on-hand counts, but a count says how many, never
where. Its difference goes to the stock-adjustment bin
(:data:`~services.warehouse.models.ADJUSTMENT_BIN`), so the bins keep adding
up to inventory's ``on_hand`` per SKU.

* :func:`apply_adjustments`: each of inventory's adjustment ids applies once
  (its row in ``stock_adjustments`` is the proof), whoever carries it and
  however often. One statement in the usual case, no ORM object per row.
"""

from __future__ import annotations

from datetime import UTC, datetime

from common.errors import Conflict
from services.warehouse.models import AdjustmentsApplied, AdjustmentsIn
from services.warehouse.repository import WarehouseRepository


async def apply_adjustments(repo: WarehouseRepository, body: AdjustmentsIn) -> AdjustmentsApplied:
    """Add each new adjustment's delta to its SKU's row in the adjustment bin; a known id adds nothing.

    An id given twice in the body counts once (the second copy as a duplicate).

    Raises:
        Conflict: ``AdjustmentMismatch`` (with ``ids``) when an id was applied
            before with another SKU or delta: inventory's ids no longer mean
            what they meant (a reset database, say). Nothing is applied.
    """
    by_id = {item.id: item for item in body.items}  # the body's validator made the copies of an id equal
    items = [by_id[i] for i in sorted(by_id)]
    ids, skus, deltas = [i.id for i in items], [i.sku for i in items], [i.delta for i in items]
    applied = await repo.apply_adjustments(ids, skus, deltas, datetime.now(UTC))
    if applied < len(items) and (mismatched := await repo.mismatched_adjustments(ids, skus, deltas)):
        raise Conflict(
            f"adjustment {mismatched[0]} was applied before with another SKU or delta",
            type="AdjustmentMismatch",
            extra={"ids": mismatched},
        )
    return AdjustmentsApplied(applied=applied, duplicate=len(body.items) - applied)
