"""The audit trail on the real platform: calls show up in ``GET /api/audit``, and the chain verifies."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx

from paklog.platform import LocalPlatform

ADDRESS = {"name": "Alice", "line1": "1 Example Street", "city": "Berlin", "postal_code": "10115", "country": "DE"}


async def _recorded(olivia: httpx.AsyncClient, request_id: str, **filters: str) -> dict[str, Any]:
    """The record of the call with this X-Request-ID, once the gateway's outbox has delivered it."""
    deadline = time.monotonic() + 30
    while True:
        page = await olivia.get("/api/audit", params={"limit": 200, **filters})
        assert page.status_code == 200, page.text
        found: list[dict[str, Any]] = [item for item in page.json()["items"] if item["request_id"] == request_id]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"{request_id} never reached the audit trail"
        await asyncio.sleep(0.2)


async def test_calls_reach_the_trail_and_the_chain_verifies(
    platform: LocalPlatform, alice: httpx.AsyncClient, olivia: httpx.AsyncClient
) -> None:
    marker = uuid.uuid4().hex
    products = await alice.get("/api/products", headers={"X-Request-ID": f"{marker}-products"})
    assert products.status_code == 200
    order = await alice.post(
        "/api/orders",
        json={
            "lines": [{"sku": "MUG-RED", "quantity": 1}],
            "shipping_address": ADDRESS,
            "payment": {"card_token": "tok_visa"},
        },
        headers={"X-Request-ID": f"{marker}-order"},
    )
    assert order.status_code == 202, order.text
    order_id = order.json()["order_id"]
    refused = await alice.get("/api/audit", headers={"X-Request-ID": f"{marker}-refused"})
    assert refused.status_code == 403

    read = await _recorded(olivia, f"{marker}-products", actor="alice", path="/api/products")
    assert (read["method"], read["route"], read["status"], read["role"]) == ("GET", "/api/products", 200, "customer")
    assert read["request_digest"] is None
    assert len(read["response_digest"]) == 64
    placed = await _recorded(olivia, f"{marker}-order", order_id=order_id)
    assert (placed["method"], placed["status"], placed["workflow_id"]) == ("POST", 202, f"order-{order_id}")
    assert len(placed["request_digest"]) == 64
    assert (await _recorded(olivia, f"{marker}-refused", actor="alice"))["status"] == 403
    assert "Bearer" not in str(read)

    verify = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "paklog", "audit", "verify"],
        env=platform.child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "audit chain intact" in verify.stdout
