"""The ERP's events on the live platform: a price and a stock count changed in the ERP stand-in reach
``GET /api/products/{sku}`` through its signed, token-carrying webhook, with no sync run; posted twice and
newest-first, each still applies once and the newest wins."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import httpx
import pytest

from paklog.platform import LocalPlatform
from tests.e2e.test_zz_restart_and_cli import paklog

pytestmark = pytest.mark.e2e

#: A demo SKU no other end-to-end test orders or counts (the ERP's seed has it too, with the same stock).
SKU = "TEE-BLK-L"
#: The warehouse's stock-adjustment bin (docs/erp.md, part D).
ADJUSTMENT_BIN = "X-00-00-0"
T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, seconds: float = 60) -> T:
    deadline = time.monotonic() + seconds
    while True:
        found = await probe()
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


class Erp:
    """The ERP stand-in's OData API and its control, with the platform's service token."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url

    async def patch(self, entity_set: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """Change an entity as a user of the ERP would: read its ETag, send it back in ``If-Match``."""
        current = await self.http.get(f"{self.url}/odata/{entity_set}('{key}')")
        assert current.status_code == 200, current.text
        changed = await self.http.patch(
            f"{self.url}/odata/{entity_set}('{key}')", json=body, headers={"If-Match": current.headers["ETag"]}
        )
        assert changed.status_code == 200, changed.text
        entity: dict[str, Any] = changed.json()
        return entity

    async def knobs(self, **knobs: Any) -> None:
        resp = await self.http.post(f"{self.url}/control", json=knobs)
        assert resp.status_code == 200, resp.text

    async def events(self, object_id: str) -> list[dict[str, Any]]:
        resp = await self.http.get(f"{self.url}/events", params={"object_id": object_id, "limit": 1000})
        assert resp.status_code == 200, resp.text
        found: list[dict[str, Any]] = resp.json()
        return found


@pytest.fixture
async def erp(platform: LocalPlatform, services: httpx.AsyncClient) -> AsyncIterator[Erp]:
    stand_in = Erp(services, platform.erp_url)
    original = (await services.get(f"{platform.service_url('inventory')}/products/{SKU}")).json()
    try:
        yield stand_in
    finally:
        # Back to what the rest of the suite expects (the warehouse's bins hold the seeded count).
        await stand_in.knobs(duplicate_rate=0, reorder=False)
        await stand_in.patch("Materials", SKU, {"Price": f"{original['price_cents'] / 100:.2f}"})
        await stand_in.patch("MaterialStock", SKU, {"UnrestrictedStock": original["on_hand"]})
        await until_shown(services, platform, price_cents=original["price_cents"], on_hand=original["on_hand"])


async def until_shown(services: httpx.AsyncClient, platform: LocalPlatform, **expected: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = (await services.get(f"{platform.service_url('inventory')}/products/{SKU}")).json()
        return body if all(body[k] == v for k, v in expected.items()) else None

    return await eventually(probe, f"{SKU} to show {expected}")


async def inventory_events(services: httpx.AsyncClient, platform: LocalPlatform) -> list[dict[str, Any]]:
    resp = await services.get(f"{platform.service_url('inventory')}/erp/events", params={"limit": 1000})
    assert resp.status_code == 200, resp.text
    found: list[dict[str, Any]] = resp.json()["items"]
    return found


async def test_a_price_and_a_stock_count_changed_in_the_erp_reach_the_catalogue_without_a_sync(
    platform: LocalPlatform, erp: Erp, alice: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    watermarks = (await services.get(f"{platform.service_url('inventory')}/erp/watermarks")).json()
    await erp.patch("Materials", SKU, {"Price": "27.90"})
    await erp.patch("MaterialStock", SKU, {"UnrestrictedStock": 64})

    async def shown() -> dict[str, Any] | None:
        product: dict[str, Any] = (await alice.get(f"/api/products/{SKU}")).json()
        return product if (product["price_cents"], product["on_hand"]) == (2790, 64) else None

    product = await eventually(shown, "the ERP's price and count at the gateway")
    assert product["available"] == 64 - product["reserved"]
    # The event path, not an import: the import's watermarks did not move.
    assert (await services.get(f"{platform.service_url('inventory')}/erp/watermarks")).json() == watermarks

    # The stand-in logged in and signed: both events delivered, answered "applied" by the gateway. The stand-in
    # records a delivery once it has the answer, which may be a moment after the catalogue shows the change.
    async def both_answered() -> list[dict[str, Any]] | None:
        last_two = (await erp.events(SKU))[-2:]
        return last_two if all(e["status"] != "pending" for e in last_two) else None

    delivered = await eventually(both_answered, "the stand-in to record both answers")
    assert [(e["type"], e["status"], e["answer_status"]) for e in delivered] == [
        ("MaterialChanged", "delivered", 200),
        ("StockChanged", "delivered", 200),
    ]
    assert all('"result":"applied"' in (e["answer"] or "") for e in delivered)

    # The count's difference reached the warehouse's stock-adjustment bin: the bins add up to on_hand again.
    async def bins_follow() -> dict[str, Any] | None:
        totals = (await services.get(f"{platform.service_url('warehouse')}/stock/totals")).json()
        row: dict[str, Any] = next(r for r in totals if r["sku"] == SKU)
        return row if row["quantity"] == 64 else None

    await eventually(bins_follow, "the warehouse's bins to hold the ERP's count")
    adjustment = (
        await services.get(
            f"{platform.service_url('warehouse')}/stock", params={"sku": SKU, "location": ADJUSTMENT_BIN}
        )
    ).json()
    seeded = (await services.get(f"{platform.service_url('inventory')}/stock/adjustments", params={"sku": SKU})).json()
    assert [row["quantity"] for row in adjustment] == [sum(item["delta"] for item in seeded["items"])]
    assert all(item["posted_at"] is not None for item in seeded["items"])
    checked = paklog(platform, "check", "stock")
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_posted_twice_and_newest_first_each_event_applies_once_and_the_newest_wins(
    platform: LocalPlatform, erp: Erp, services: httpx.AsyncClient
) -> None:
    before = {e["event_id"] for e in await erp.events(SKU)}
    await erp.knobs(duplicate_rate=1, reorder=True)
    prices = ["31.10", "31.20", "31.30", "31.40"]
    counts = [71, 72, 73, 74]
    for price, count in zip(prices, counts, strict=True):
        await erp.patch("Materials", SKU, {"Price": price})
        await erp.patch("MaterialStock", SKU, {"UnrestrictedStock": count})
    await until_shown(services, platform, price_cents=3140, on_hand=74)

    async def all_delivered() -> list[dict[str, Any]] | None:
        ours = [e for e in await erp.events(SKU) if e["event_id"] not in before]
        return ours if len(ours) == 8 and all(e["status"] == "delivered" for e in ours) else None

    sent = await eventually(all_delivered, "the eight events to be delivered")
    assert all(e["duplicated"] for e in sent)  # every one posted twice

    recorded = {e["event_id"]: e for e in await inventory_events(services, platform)}
    ours = [recorded[e["event_id"]] for e in sent]  # each recorded (once: the event id is the key)
    assert len({e["event_id"] for e in ours}) == 8
    for event_type in ("MaterialChanged", "StockChanged"):
        # In the order inventory received them: none applied after a newer one of the same kind, the newest applied.
        received = sorted((e for e in ours if e["type"] == event_type), key=lambda e: e["received_at"])
        newest_applied: datetime | None = None
        for event in received:
            occurred = datetime.fromisoformat(event["occurred_at"])
            if event["status"] == "applied":
                assert newest_applied is None or occurred > newest_applied, received
                newest_applied = occurred
            else:
                assert event["status"] == "stale"
                assert newest_applied is not None
                assert occurred < newest_applied, received
        assert newest_applied == max(datetime.fromisoformat(e["occurred_at"]) for e in received)
    shown = (await services.get(f"{platform.service_url('inventory')}/products/{SKU}")).json()
    assert (shown["price_cents"], shown["on_hand"]) == (3140, 74)
