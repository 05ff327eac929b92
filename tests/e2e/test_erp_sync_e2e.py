"""The master-data import on the live platform: a change made in the ERP stand-in reaches the catalogue
through an ErpSync run (the import path, beside the event path that test_erp_events_e2e covers)."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx
import pytest

from common.settings import TemporalSettings
from gateway.temporal import connect_temporal
from paklog.platform import LocalPlatform
from workflows.erp_sync import ErpSync
from workflows.erp_types import ErpSyncInput

pytestmark = pytest.mark.e2e

SKU = "MAT-00042"


async def patch(services: httpx.AsyncClient, url: str, values: dict[str, object]) -> dict[str, object]:
    etag = (await services.get(url)).headers["ETag"]
    resp = await services.patch(url, json=values, headers={"If-Match": etag})
    assert resp.status_code == 200, resp.text
    changed: dict[str, object] = resp.json()
    return changed


async def test_a_price_and_a_stock_count_changed_in_the_erp_arrive_with_the_next_sync(
    platform: LocalPlatform, olivia: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    erp = f"{platform.erp_url}/odata"
    material = await patch(services, f"{erp}/Materials('{SKU}')", {"Price": "77.25"})
    stock = await patch(services, f"{erp}/MaterialStock('{SKU}')", {"UnrestrictedStock": 321})

    client = await connect_temporal(TemporalSettings(temporal_address=platform.temporal_address))
    result = await client.execute_workflow(
        ErpSync.run, ErpSyncInput(), id=f"erp-sync-e2e-{uuid.uuid4().hex[:8]}", task_queue=platform.config.task_queue
    )
    assert [entity.entity for entity in result.entities] == ["materials", "customers", "stock"]

    product = (await olivia.get(f"/api/products/{SKU}")).json()
    assert (product["price_cents"], product["on_hand"]) == (7725, 321)
    # The import itself read both changes: its watermarks stand at (or past) them.
    sync = (await olivia.get("/api/erp/sync")).json()
    marks = {entity["entity"]: entity["watermark"] for entity in sync["entities"]}
    for entity, changed in (("materials", material), ("stock", stock)):
        mark = marks[entity]
        assert mark is not None, sync
        assert datetime.fromisoformat(mark["changed_at"]) >= datetime.fromisoformat(str(changed["LastChangedAt"]))
