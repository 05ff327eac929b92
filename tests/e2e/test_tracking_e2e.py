"""After the dock, through the gateway: carrier webhooks, tracking, subscriptions, delivery and its failure.

The carrier stand-in posts signed events for every label it sold; here it
either delivers on its own (fast parcels) or is paused while the test posts
the events itself, hostile ones included.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from common.webhooks import SIGNATURE_HEADER, carrier_secret, sign
from paklog.platform import LocalPlatform
from tests.e2e.test_orders_e2e import order_body, place, settle, stock
from tests.e2e.test_warehouse_e2e import clear_backlog, pack, pick_all, plan, release, wait_for
from tests.e2e.test_zz_restart_and_cli import paklog

DELIVERY_STATUSES = {"IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED", "EXCEPTION"}


async def carriers_control(services: httpx.AsyncClient, platform: LocalPlatform, **control: Any) -> None:
    """Set how the stand-in's parcels move (every carrier)."""
    resp = await services.post(f"{platform.carriers_url}/control", json=control)
    assert resp.status_code == 200, resp.text


async def ship(alice: httpx.AsyncClient, olivia: httpx.AsyncClient, orders: list[list[tuple[str, int]]]) -> list[str]:
    """Place the orders and take them through the floor until each is SHIPPED (or further)."""
    await clear_backlog(olivia)
    ids = [await place(alice, order_body(*lines)) for lines in orders]
    for order_id in ids:
        assert (await settle(alice, order_id))["status"] == "AWAITING_WAVE"
    wave = await plan(olivia, ids)
    await release(olivia, wave["wave_id"])
    await pick_all(olivia, wave["wave_id"])
    for order_id, lines in zip(ids, orders, strict=True):
        await wait_for(olivia, order_id, {"PICKING"})
        resp = await pack(olivia, order_id, lines)
        assert resp.status_code in (200, 202), resp.text
    for order_id in ids:
        await wait_for(alice, order_id, {"SHIPPED", "DELIVERED"}, seconds=120)
    return ids


async def tracking_messages(services: httpx.AsyncClient, platform: LocalPlatform, tracking_code: str) -> list[str]:
    """The ``tracking_update`` messages sent about one tracking code, oldest first (their subjects)."""
    resp = await services.get(
        f"{platform.service_url('notifications')}/messages", params={"recipient": "alice@example.com", "limit": 500}
    )
    assert resp.status_code == 200, resp.text
    found = [
        m for m in resp.json() if m["template"] == "tracking_update" and tracking_code in (m["subject"] + m["body"])
    ]
    return [m["subject"] for m in reversed(found)]


async def test_the_carrier_delivers_and_every_status_change_reaches_the_subscriber(
    platform: LocalPlatform, alice: httpx.AsyncClient, olivia: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    await carriers_control(services, platform, step_seconds=0.2, exception_rate=0.0)
    ids = await ship(alice, olivia, [[("MUG-RED", 1)], [("TEE-BLK-M", 1), ("PEN-BLK", 2)], [("NOTE-A5", 1)]])
    delivered = [await wait_for(alice, order_id, {"DELIVERED"}, seconds=120) for order_id in ids]
    for order in delivered:
        code = order["tracking_code"]
        assert [h["to_status"] for h in order["history"]][-2:] == ["SHIPPED", "DELIVERED"]
        resp = await alice.get(f"/api/tracking/{code}")
        assert resp.status_code == 200, resp.text
        view = resp.json()
        assert view["status"] == "DELIVERED"
        statuses = [entry["status"] for entry in view["trail"]]
        assert statuses[0] == "IN_TRANSIT"
        assert statuses[-1] == "DELIVERED"
        assert "OUT_FOR_DELIVERY" in statuses
        assert any(entry["position"] for entry in view["trail"])
        # One message per status change (two IN_TRANSIT positions are one change), not per event.
        deadline = time.monotonic() + 30
        while len(messages := await tracking_messages(services, platform, code)) < 3:
            assert time.monotonic() < deadline, messages
            await asyncio.sleep(0.3)
        assert len(messages) == 3, messages
    mine = (await alice.get("/api/tracking", params={"limit": 200})).json()["items"]
    by_code = {s["tracking_code"]: s for s in mine}
    for order in delivered:
        assert by_code[order["tracking_code"]]["status"] == "DELIVERED"
        assert by_code[order["tracking_code"]]["title"] == f"Order {order['order_id']}"


class Carrier:
    """The test as a carrier: signed events for one shipment, posted to the gateway."""

    def __init__(self, http: httpx.AsyncClient, platform: LocalPlatform, carrier: str, tracking_code: str) -> None:
        self.http = http
        self.platform = platform
        self.carrier = carrier
        self.tracking_code = tracking_code
        self.secret = carrier_secret(platform.service_token, carrier, None)
        self.t0 = datetime.now(UTC)

    def body(self, event_id: str, status: str, minutes: int, **extra: Any) -> bytes:
        event = {
            "event_id": event_id,
            "tracking_code": self.tracking_code,
            "carrier": self.carrier,
            "status": status,
            "occurred_at": (self.t0 + timedelta(minutes=minutes)).isoformat(),
            "position": {"lat": 51.3, "lon": 9.5 + minutes / 100},
            "location": "Hub",
            "reason": None,
        } | extra
        return json.dumps(event).encode()

    async def post(self, body: bytes, *, carrier: str | None = None, signature: str | None = "sign") -> httpx.Response:
        headers = {"content-type": "application/json"}
        if signature == "sign":
            headers[SIGNATURE_HEADER] = sign(
                carrier_secret(self.platform.service_token, carrier or self.carrier, None), body
            )
        elif signature is not None:
            headers[SIGNATURE_HEADER] = signature
        return await self.http.post(f"/api/webhooks/carriers/{carrier or self.carrier}", content=body, headers=headers)


async def test_hostile_webhooks_change_nothing_then_an_exception_fails_the_delivery(
    platform: LocalPlatform, alice: httpx.AsyncClient, olivia: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    await carriers_control(services, platform, step_seconds=3600.0)  # the stand-in's parcels stand still
    before = await stock(services, platform, "BAG-TOTE")
    try:
        (order_id,) = await ship(alice, olivia, [[("BAG-TOTE", 2)]])
        order = await wait_for(alice, order_id, {"SHIPPED"})
        code = order["tracking_code"]
        carrier = Carrier(
            httpx.AsyncClient(base_url=platform.gateway_url, timeout=30), platform, order["carrier"], code
        )
        other = "SWIFT" if order["carrier"] == "PARCELNET" else "PARCELNET"
        e1 = carrier.body(f"t-{uuid.uuid4().hex[:8]}-1", "IN_TRANSIT", 1)

        # Unsigned, badly signed, an unknown carrier: 401 before anything is read.
        assert (await carrier.post(e1, signature=None)).status_code == 401
        assert (await carrier.post(e1, signature="sha256=" + "0" * 64)).status_code == 401
        assert (await carrier.post(e1, signature="garbage")).status_code == 401
        unknown = await carrier.post(e1, carrier="NOBODY")
        assert (unknown.status_code, unknown.json()["type"]) == (401, "InvalidSignature")
        # Signed but wrong: malformed JSON, a bad field, an unknown code, another carrier's shipment.
        assert (await carrier.post(b'{"event_id": ')).status_code == 422
        assert (await carrier.post(carrier.body("bad-1", "TELEPORTED", 1))).status_code == 422
        assert (await carrier.post(carrier.body("bad-2", "IN_TRANSIT", 1, occurred_at="yesterday"))).status_code == 422
        missing = await carrier.post(carrier.body("bad-3", "IN_TRANSIT", 1, tracking_code="ZZ000000000000"))
        assert (missing.status_code, missing.json()["type"]) == (404, "ShipmentNotFound")
        foreign = await carrier.post(carrier.body("bad-4", "IN_TRANSIT", 1, carrier=other), carrier=other)
        assert foreign.status_code == 404
        assert (await carrier.post(b"x" * 20_000)).status_code == 413
        view = (await alice.get(f"/api/tracking/{code}")).json()
        assert (view["status"], view["trail"]) == ("LABELLED", [])

        # The first event applies once, however often it comes.
        first = await carrier.post(e1)
        assert (first.status_code, first.json()["result"], first.json()["status"]) == (200, "applied", "IN_TRANSIT")
        repeats = await asyncio.gather(*(carrier.post(e1) for _ in range(100)))
        assert {(r.status_code, r.json()["result"]) for r in repeats} == {(200, "duplicate")}
        e2 = carrier.body(f"t-{uuid.uuid4().hex[:8]}-2", "OUT_FOR_DELIVERY", 3)
        assert (await carrier.post(e2)).json()["result"] == "applied"
        # Older than the last one: kept in the trail, the status does not go back.
        e0 = carrier.body(f"t-{uuid.uuid4().hex[:8]}-0", "IN_TRANSIT", 0)
        assert (await carrier.post(e0)).json() | {"event_id": None} == {
            "event_id": None,
            "result": "stale",
            "status": "OUT_FOR_DELIVERY",
        }
        view = (await alice.get(f"/api/tracking/{code}")).json()
        assert view["status"] == "OUT_FOR_DELIVERY"
        assert [(e["status"], e["applied"]) for e in view["trail"]] == [
            ("IN_TRANSIT", False),
            ("IN_TRANSIT", True),
            ("OUT_FOR_DELIVERY", True),
        ]
        deadline = time.monotonic() + 30
        while len(await tracking_messages(services, platform, code)) < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.3)

        # Subscriptions are the caller's own.
        assert (await olivia.post(f"/api/tracking/{code}", json={"title": "watching"})).status_code == 201
        assert (await olivia.post(f"/api/tracking/{code}", json={"title": "still watching"})).status_code == 200
        assert code not in {s["tracking_code"] for s in (await alice.get("/api/tracking")).json()["items"]} - {code}
        theirs = [s for s in (await olivia.get("/api/tracking")).json()["items"] if s["tracking_code"] == code]
        assert [s["title"] for s in theirs] == ["still watching"]
        mine = [s for s in (await alice.get("/api/tracking")).json()["items"] if s["tracking_code"] == code]
        assert [s["title"] for s in mine] == [f"Order {order_id}"]
        assert (await olivia.delete(f"/api/tracking/{code}")).status_code == 204
        assert (await olivia.delete(f"/api/tracking/{code}")).status_code == 404
        assert (await alice.post("/api/tracking/ZZ000000000000", json={"title": "x"})).status_code == 404
        assert (await alice.post(f"/api/tracking/{code}", json={"title": ""})).status_code == 422

        # An exception nobody follows up: after the grace period the delivery fails, everything comes back.
        e3 = carrier.body(f"t-{uuid.uuid4().hex[:8]}-3", "EXCEPTION", 4, reason="ADDRESS_NOT_FOUND")
        assert (await carrier.post(e3)).json()["status"] == "EXCEPTION"
        failed = await wait_for(alice, order_id, {"CANCELLED"}, seconds=60)
        assert failed["cancel_reason"] == "DELIVERY_FAILED"
        assert failed["payment_status"] == "REFUNDED"
        assert await stock(services, platform, "BAG-TOTE") == before
        checked = paklog(platform, "check", "stock")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        await carrier.http.aclose()
    finally:
        await carriers_control(services, platform, step_seconds=0.2)
