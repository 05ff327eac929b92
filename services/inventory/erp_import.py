"""The ERP import's rules in inventory: materials and on-hand counts, newest wins (docs/erp.md, part B).

A page's rows and its watermark commit in the caller's one transaction. Each
row applies only when its ``changed_at`` is newer than what the product last
took from the ERP, so a repeated page, a retried one or an older copy changes
nothing (a repeat within one page too: its newest copy counts). The ERP is
the master of on-hand counts; reservations stay PakLog's, so a count below
what is reserved is refused for that SKU alone, and the rest of the page
applies: ``on_hand = available + reserved`` and non-negative stock hold for
every row, always.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from common.erp_import import WatermarkIn, load_watermarks, store_watermark
from services.inventory.models import (
    AdjustmentSource,
    InventoryWatermarks,
    MaterialsPage,
    MaterialsResult,
    StockIn,
    StockPage,
    StockRejection,
    StockResult,
)
from services.inventory.repository import InventoryRepository

MATERIALS = "materials"
STOCK = "stock"
STOCK_BELOW_RESERVED = "StockBelowReserved"


class StockVerdict(StrEnum):
    """What the newest-wins rule makes of one on-hand count of a known SKU."""

    APPLY = "apply"
    #: Not newer than the count the SKU last took (from a page or an event).
    UNCHANGED = "unchanged"
    #: Below the units reserved: refused, and the SKU's ``stock_changed_at`` stays, so a later count applies.
    BELOW_RESERVED = "below_reserved"


def stock_verdict(item: StockIn, reserved: int, counted_at: datetime | None) -> StockVerdict:
    """The rule for one count of a known SKU, given what its (locked) row holds."""
    if counted_at is not None and item.changed_at <= counted_at:
        return StockVerdict.UNCHANGED
    if item.on_hand < reserved:
        return StockVerdict.BELOW_RESERVED
    return StockVerdict.APPLY


def page_ref(watermark: WatermarkIn) -> str:
    """The ``ref`` of the stock adjustments a page makes: its watermark, ``<key>@<changed_at>``.

    ``changed_at`` in UTC with microseconds and ``Z`` (``MAT-00001@2026-05-04T10:15:00.000001Z``), at most
    92 characters (a key is at most 64). The watermark is the page's last row, so it names the page; a repeat
    of the page changes no count and writes no adjustment.
    """
    changed_at = watermark.changed_at.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return f"{watermark.key}@{changed_at}"


def material_is_newer(changed_at: datetime, erp_changed_at: datetime | None) -> bool:
    """Material data applies when newer than what the product last took (a never-imported product takes any)."""
    return erp_changed_at is None or erp_changed_at < changed_at


async def import_materials(repo: InventoryRepository, page: MaterialsPage) -> MaterialsResult:
    """Create unknown SKUs (with no stock) and update those whose material data is older; store the watermark."""
    inserted, updated = await repo.upsert_materials(page.items)
    watermark = await store_watermark(repo.session, MATERIALS, page.watermark, len(page.items))
    return MaterialsResult(
        inserted=inserted, updated=updated, unchanged=len(page.items) - inserted - updated, watermark=watermark
    )


async def import_stock(repo: InventoryRepository, page: StockPage) -> StockResult:
    """Set the on-hand count of every known SKU whose count is older; store the watermark.

    A SKU inventory does not know is listed in ``unknown``; a count below the
    units reserved in ``rejected`` (``StockBelowReserved``); neither changes
    the SKU, and neither fails the page. Every count that changes an ``on_hand``
    writes a stock adjustment (``erp-page``, :func:`page_ref`).
    """
    newest: dict[str, StockIn] = {}
    for item in page.items:
        kept = newest.get(item.sku)
        if kept is None or kept.changed_at < item.changed_at:
            newest[item.sku] = item
    skus = sorted(newest)
    current = await repo.lock_stock(skus)
    apply: list[StockIn] = []
    unknown: list[str] = []
    rejected: list[StockRejection] = []
    for sku in skus:
        item = newest[sku]
        if sku not in current:
            unknown.append(sku)
            continue
        verdict = stock_verdict(item, *current[sku])
        if verdict == StockVerdict.BELOW_RESERVED:
            rejected.append(StockRejection(sku=sku, reason=STOCK_BELOW_RESERVED))
        elif verdict == StockVerdict.APPLY:
            apply.append(item)
    updated = await repo.set_stock(apply, source=AdjustmentSource.ERP_PAGE, ref=page_ref(page.watermark))
    watermark = await store_watermark(repo.session, STOCK, page.watermark, len(page.items))
    return StockResult(
        updated=updated,
        unchanged=len(page.items) - updated - len(unknown) - len(rejected),
        unknown=unknown,
        rejected=rejected,
        watermark=watermark,
    )


async def watermarks(repo: InventoryRepository) -> InventoryWatermarks:
    found = await load_watermarks(repo.session, (MATERIALS, STOCK))
    return InventoryWatermarks(materials=found[MATERIALS], stock=found[STOCK])
