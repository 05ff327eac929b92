"""The ERP stand-in on the live platform: started after PostgreSQL, seeded, locked, posting to the gateway."""

from __future__ import annotations

import httpx
import pytest

from paklog.platform import LocalPlatform

pytestmark = pytest.mark.e2e


async def test_the_platform_runs_the_seeded_erp_stand_in(platform: LocalPlatform, services: httpx.AsyncClient) -> None:
    erp = platform.erp_url
    assert (await services.get(f"{erp}/healthz")).json() == {"status": "ok"}
    async with httpx.AsyncClient(timeout=30) as stranger:
        assert (await stranger.get(f"{erp}/odata/Materials")).status_code == 401

    mug = await services.get(f"{erp}/odata/Materials('MUG-RED')")
    assert (mug.status_code, mug.json()["Price"]) == (200, "12.00")
    counted = await services.get(f"{erp}/odata/Materials", params={"$count": "true", "$top": 1})
    assert counted.json()["@odata.count"] >= 5000
    stock = await services.get(f"{erp}/odata/MaterialStock('TEE-BLK-M')")
    assert stock.json()["UnrestrictedStock"] == 100

    # Its events go to the gateway's partner webhook (test_erp_events_e2e follows them there).
    control = (await services.get(f"{erp}/control")).json()
    assert control["webhook_url"] == f"{platform.gateway_url}/api/webhooks/erp"
    assert control["outbox"]["rejected"] == 0
