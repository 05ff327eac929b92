"""Every way an order can end, on the real platform: reasons, requesters, Temporal cancel, the cancel deadline."""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

import asyncpg
import httpx
import pytest

from common.settings import database_url
from paklog.platform import LocalPlatform, _bin
from tests.e2e.test_orders_e2e import order_body, payments_of, place, settle, stock

pytestmark = pytest.mark.e2e
#: An order past its export also has its sales order cancelled in the ERP.
UNDOS = ["erp.cancel_sales_order", "payments.void", "inventory.release", "orders.cancel"]


async def status_of(http: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    resp = await http.get(f"/api/orders/{order_id}")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def until_cancelled(http: httpx.AsyncClient, order_id: str, seconds: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        order = await status_of(http, order_id)
        if order["status"] == "CANCELLED":
            return order
        await asyncio.sleep(0.3)
    raise AssertionError(f"order {order_id} was not cancelled: {order}")


async def test_a_customer_cannot_cancel_with_another_reason(alice: httpx.AsyncClient) -> None:
    order_id = await place(alice, order_body(("MUG-BLU", 1)))
    await settle(alice, order_id)
    resp = await alice.post(f"/api/orders/{order_id}/cancel", json={"reason": "OUT_OF_STOCK"})
    assert resp.status_code == 403, resp.text
    assert resp.json()["type"] == "ReasonNotAllowed"
    assert (await status_of(alice, order_id))["status"] == "AWAITING_WAVE"
    bad = await alice.post(f"/api/orders/{order_id}/cancel", json={"reason": "BORED"})
    assert bad.status_code == 422


async def test_an_operator_cancel_keeps_its_reason_and_requester(
    alice: httpx.AsyncClient, olivia: httpx.AsyncClient
) -> None:
    order_id = await place(alice, order_body(("MUG-BLU", 1)))
    await settle(alice, order_id)
    resp = await olivia.post(f"/api/orders/{order_id}/cancel", json={"reason": "OUT_OF_STOCK"})
    assert resp.status_code == 200, resp.text
    cancelled = resp.json()
    assert (cancelled["cancel_reason"], cancelled["cancel_requested_by"]) == ("OUT_OF_STOCK", "olivia")
    # Once the order went to the wave backlog (right after AWAITING_WAVE), it leaves it first.
    assert cancelled["compensations"] in (UNDOS, ["warehouse.withdraw", *UNDOS])
    order = await status_of(alice, order_id)
    assert (order["status"], order["cancel_reason"]) == ("CANCELLED", "OUT_OF_STOCK")
    last = order["history"][-1]
    assert (last["to_status"], last["reason"], last["actor"]) == ("CANCELLED", "OUT_OF_STOCK", "olivia")


async def test_a_temporal_cancel_from_the_cli_compensates(
    platform: LocalPlatform, alice: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    before = await stock(services, platform, "MUG-BLU")
    order_id = await place(alice, order_body(("MUG-BLU", 2)))
    await settle(alice, order_id)
    done = await asyncio.to_thread(
        subprocess.run,
        [_bin("temporal"), "workflow", "cancel", "--address", platform.temporal_address, "-w", f"order-{order_id}"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    order = await until_cancelled(alice, order_id)
    assert order["cancel_reason"] == "OPERATOR_CANCELLED"
    assert order["history"][-1]["actor"] == "temporal-cancel"
    assert (await payments_of(services, platform, order_id))[0]["status"] == "VOIDED"
    assert await stock(services, platform, "MUG-BLU") == before


async def test_cancel_answers_202_while_compensation_waits_and_then_finishes(
    platform: LocalPlatform, alice: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    order_id = await place(alice, order_body(("MUG-BLU", 1)))
    await settle(alice, order_id)
    # Hold the payments service's per-order lock: the void waits on it, as in a stuck processor.
    payments_db = database_url(platform.postgres_url, "paklog_payments").replace("+asyncpg", "")
    conn = await asyncpg.connect(payments_db)
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", order_id)
        started = time.monotonic()
        resp = await alice.post(f"/api/orders/{order_id}/cancel")
        took = time.monotonic() - started
        assert resp.status_code == 202, resp.text
        assert took < 15  # the gateway's deadline (5 s here), never a hanging request
        assert resp.json()["status"] != "CANCELLED"
    finally:
        await conn.execute("SELECT pg_advisory_unlock_all()")
        await conn.close()
    order = await until_cancelled(alice, order_id, seconds=90)
    assert order["cancel_reason"] == "CUSTOMER_CANCELLED"
    assert (await payments_of(services, platform, order_id))[0]["status"] == "VOIDED"
