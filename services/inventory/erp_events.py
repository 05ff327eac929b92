"""The ERP's material and stock events in inventory: the import's newest-wins rules, one row at a time.

A ``MaterialChanged`` or ``StockChanged`` (docs/erp.md, part C) is the same
news a page of the master-data import carries, for one SKU, and is judged by
the same rules (:mod:`services.inventory.erp_import`) against the same change
times, so an event and a page never undo each other whichever comes first:

* material data applies when newer than the product's ``erp_changed_at``;
* an on-hand count when newer than its ``stock_changed_at`` and not below the
  units reserved (such a count is kept as a ``dead_letter``,
  ``StockBelowReserved``; the SKU's count time stays, so a later count applies);
  one that changes ``on_hand`` writes a stock adjustment (``erp-event``, the
  event id as its ``ref``).

Unlike a page, an event of a SKU inventory does not know is no new product:
it is a ``dead_letter`` (``UnknownMaterial``), kept with its body for an
operator. An event never moves the import's watermark: it says nothing about
the rows before it. Each event is recorded once (:mod:`common.erp_events`),
under a lock on its product row.
"""

from __future__ import annotations

from common.erp_events import ErpEventPage, ErpEventRecorded, EventResult, EventStatus, list_events, record, recorded
from services.inventory.erp_import import STOCK_BELOW_RESERVED, StockVerdict, material_is_newer, stock_verdict
from services.inventory.models import AdjustmentSource, InventoryErpEventIn
from services.inventory.repository import InventoryRepository

UNKNOWN_MATERIAL = "UnknownMaterial"


async def record_event(repo: InventoryRepository, event: InventoryErpEventIn) -> ErpEventRecorded:
    """Record the event once and apply it when the rules say so (module docstring).

    Call inside the route's transaction.

    Raises:
        Conflict: ``EventMismatch``: the id was recorded with another body.
    """
    if event.material is not None:
        return await _material(repo, event)
    return await _stock(repo, event)


async def _material(repo: InventoryRepository, event: InventoryErpEventIn) -> ErpEventRecorded:
    material = event.material
    assert material is not None
    product = await repo.get_product(material.sku, for_update=True)
    repeat = await recorded(repo.session, event, event.type)
    if repeat is not None:
        return repeat
    if product is None:
        return await record(repo.session, event, event.type, EventStatus.DEAD_LETTER, UNKNOWN_MATERIAL)
    newer = material_is_newer(material.changed_at, product.erp_changed_at)
    outcome = await record(repo.session, event, event.type, EventStatus.APPLIED if newer else EventStatus.STALE)
    if outcome.result == EventResult.APPLIED:
        await repo.upsert_materials([material])
    return outcome


async def _stock(repo: InventoryRepository, event: InventoryErpEventIn) -> ErpEventRecorded:
    count = event.stock
    assert count is not None
    current = await repo.lock_stock([count.sku])
    repeat = await recorded(repo.session, event, event.type)
    if repeat is not None:
        return repeat
    if count.sku not in current:
        return await record(repo.session, event, event.type, EventStatus.DEAD_LETTER, UNKNOWN_MATERIAL)
    verdict = stock_verdict(count, *current[count.sku])
    if verdict == StockVerdict.BELOW_RESERVED:
        return await record(repo.session, event, event.type, EventStatus.DEAD_LETTER, STOCK_BELOW_RESERVED)
    status = EventStatus.APPLIED if verdict == StockVerdict.APPLY else EventStatus.STALE
    outcome = await record(repo.session, event, event.type, status)
    if outcome.result == EventResult.APPLIED:
        await repo.set_stock([count], source=AdjustmentSource.ERP_EVENT, ref=event.event_id)
    return outcome


async def events(repo: InventoryRepository, *, status: EventStatus | None, limit: int, offset: int) -> ErpEventPage:
    return await list_events(repo.session, status=status, limit=limit, offset=offset)
