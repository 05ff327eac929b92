"""The ERP import's rules in identity: customers, newest wins (docs/erp.md, part B).

A page's rows and its watermark commit in the caller's one transaction. A row
applies only when its ``changed_at`` is newer than the stored customer's, so a
repeated page, a retried one or an older copy changes nothing (a repeat within
one page too: its newest copy counts).

The ERP's ``CustomerChanged`` events (part C) are judged by the same rule, one
customer at a time, and recorded once per event id (:mod:`common.erp_events`):
``applied`` when the customer is new or its data newer, else ``stale``. A
customer PakLog does not know yet is created, as a page would create it (the
read model holds every customer the ERP has). An event never moves the
import's watermark.
"""

from __future__ import annotations

from common.erp_events import ErpEventPage, ErpEventRecorded, EventStatus, list_events, record, recorded
from common.erp_import import load_watermarks, store_watermark
from services.identity.models import CustomerErpEventIn, CustomersPage, CustomersResult, IdentityWatermarks
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


CUSTOMER_CHANGED = "CustomerChanged"


async def record_event(repo: IdentityRepository, event: CustomerErpEventIn) -> ErpEventRecorded:
    """Record the event once; the customer takes its data when newer (module docstring).

    The upsert decides (and, for a known customer, locks its row) before the
    event row is written; a copy of the event racing this one upserts the same
    data, which changes nothing twice.

    Raises:
        Conflict: ``EventMismatch``: the id was recorded with another body.
    """
    repeat = await recorded(repo.session, event, CUSTOMER_CHANGED)
    if repeat is not None:
        return repeat
    inserted, updated = await repo.upsert_customers([event.customer])
    status = EventStatus.APPLIED if inserted + updated else EventStatus.STALE
    return await record(repo.session, event, CUSTOMER_CHANGED, status)


async def events(repo: IdentityRepository, *, status: EventStatus | None, limit: int, offset: int) -> ErpEventPage:
    return await list_events(repo.session, status=status, limit=limit, offset=offset)
