"""The stock-adjustment bin: ERP adjustments into it, and moves between bins (docs/erp.md, part D).

The ERP is the master of on-hand counts, but a count says how many, never
where. Its difference goes to the stock-adjustment bin
(:data:`~services.warehouse.models.ADJUSTMENT_BIN`), so the bins keep adding
up to inventory's ``on_hand`` per SKU; an operator later moves found units
from there into a real bin, or books missing ones out of a real bin into it.

* :func:`apply_adjustments`: each of inventory's adjustment ids applies once
  (its row in ``applied_adjustments`` is the proof), whoever carries it and
  however often. One statement in the usual case, no ORM object per row.
* :func:`move`: free units of one SKU and lot from one bin to another, both
  rows locked in ``id`` order. Only the adjustment bin may go below zero; any
  other source gives at most ``quantity - allocated``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from common.errors import Conflict, NotFound
from services.warehouse.models import (
    ADJUSTMENT_BIN,
    AdjustmentsApplied,
    AdjustmentsIn,
    BinStock,
    BinStockPublic,
    MoveIn,
    StockMoved,
)
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


def _bin_public(row: BinStock, change: int) -> BinStockPublic:
    """The locked ``row`` as it stands once ``change`` is added to its quantity."""
    return BinStockPublic.model_validate(row, from_attributes=True).model_copy(
        update={"quantity": row.quantity + change}
    )


async def move(repo: WarehouseRepository, body: MoveIn) -> StockMoved:
    """Move free units of one SKU and lot between two bins (locked or not: a count may be what led here).

    The destination row is made when missing (received now, the source row's
    expiry date), and so is the adjustment bin's row when it is the source.

    Raises:
        NotFound: ``LocationNotFound`` when either location does not exist.
        Conflict: ``NotEnoughFreeUnits`` (with ``requested`` and ``free``) when a
            source other than the adjustment bin has fewer free units than asked.
    """
    locations = (body.source, body.destination)
    missing = sorted(set(locations) - await repo.existing_locations(locations))
    if missing:
        raise NotFound(f"no location {', '.join(missing)}", type="LocationNotFound")
    made = [body.destination] + ([body.source] if body.source == ADJUSTMENT_BIN else [])
    await repo.ensure_bins(body.sku, body.lot, made, expiry_from=body.source, now=datetime.now(UTC))
    rows = await repo.lock_lot_bins(body.sku, body.lot, locations)
    source, destination = rows.get(body.source), rows[body.destination]
    free = 0 if source is None else source.quantity - source.allocated
    if body.source != ADJUSTMENT_BIN and free < body.quantity:
        raise Conflict(
            f"{body.source} has {free} free units of {body.sku}{f' lot {body.lot}' if body.lot else ''};"
            f" {body.quantity} asked",
            type="NotEnoughFreeUnits",
            extra={"location": body.source, "sku": body.sku, "lot": body.lot, "requested": body.quantity, "free": free},
        )
    assert source is not None
    assert source.id is not None
    assert destination.id is not None
    answer = StockMoved(
        sku=body.sku,
        lot=body.lot,
        quantity=body.quantity,
        source=_bin_public(source, -body.quantity),
        destination=_bin_public(destination, body.quantity),
    )
    # Both rows are locked: the order of the two updates no longer matters. The table's checks stand behind.
    await repo.change_bin(source.id, quantity=-body.quantity)
    await repo.change_bin(destination.id, quantity=body.quantity)
    return answer
