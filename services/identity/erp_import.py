"""The ERP import's rules in identity: customers, newest wins (docs/erp.md, part B).

A page's rows and its watermark commit in the caller's one transaction. A row
applies only when its ``changed_at`` is newer than the stored customer's, so a
repeated page, a retried one or an older copy changes nothing (a repeat within
one page too: its newest copy counts).
"""

from __future__ import annotations

from common.erp_import import load_watermarks, store_watermark
from services.identity.models import CustomersPage, CustomersResult, IdentityWatermarks
from services.identity.repository import IdentityRepository

CUSTOMERS = "customers"


async def import_customers(repo: IdentityRepository, page: CustomersPage) -> CustomersResult:
    """Create new customers and update those whose data is older; store the watermark."""
    inserted, updated = await repo.upsert_customers(page.items)
    watermark = await store_watermark(repo.session, CUSTOMERS, page.watermark, len(page.items))
    return CustomersResult(
        inserted=inserted, updated=updated, unchanged=len(page.items) - inserted - updated, watermark=watermark
    )


async def watermarks(repo: IdentityRepository) -> IdentityWatermarks:
    found = await load_watermarks(repo.session, (CUSTOMERS,))
    return IdentityWatermarks(customers=found[CUSTOMERS])
