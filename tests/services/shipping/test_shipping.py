"""The shipping service against the carrier stand-in (in process): cartons, rate shopping, failover,
circuit breakers, one label per order, voids with a tombstone, label PDFs and paging. Real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import FreshDatabase
from tests.services.shipping.factories import THRESHOLD, fault, oid, seeded, ship, shipping_app
from tests.support import committing_client, rolled_back_client

#: The breakers' reset time in these tests: long enough that the calls which open a breaker (slow on a
#: loaded machine) all land before it half-opens.
RESET_SECONDS = 1.5


async def calls(tms: httpx.AsyncClient, carrier: str) -> dict[str, int]:
    result: dict[str, int] = next(c for c in (await tms.get("/control")).json() if c["carrier"] == carrier)["calls"]
    return result


async def breakers(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    return {b["carrier"]: b for b in (await client.get("/carriers")).json()}


def carrier_labels(carrier_app: FastAPI, order_id: str) -> list[dict[str, Any]]:
    labels: list[dict[str, Any]] = carrier_app.state.desk.store.for_reference(order_id)
    return labels


async def test_cartons_are_seeded_and_the_smallest_that_fits_is_chosen(client: httpx.AsyncClient) -> None:
    listed = (await client.get("/cartons")).json()
    assert [(c["code"], c["volume_cm3"], c["max_weight_grams"]) for c in listed] == [
        ("S", 6_000, 5_000),
        ("M", 24_000, 15_000),
        ("L", 96_000, 30_000),
        ("XL", 180_000, 40_000),
    ]

    async def choose(weight: int, volume: int) -> httpx.Response:
        return await client.post("/cartons/choose", json={"weight_grams": weight, "volume_cm3": volume})

    assert (await choose(1000, 4800)).json()["code"] == "S"  # 80 % of 6,000 cm³
    assert (await choose(1000, 4801)).json()["code"] == "M"
    assert (await choose(5001, 100)).json()["code"] == "M"  # too heavy for S
    assert (await choose(31_000, 1000)).json()["code"] == "XL"
    for weight, volume in ((40_001, 1000), (1000, 144_001)):
        resp = await choose(weight, volume)
        assert (resp.status_code, resp.json()["type"]) == (422, "NoCartonFits")


async def test_rate_shopping_buys_from_the_cheaper_carrier(client: httpx.AsyncClient, tms: httpx.AsyncClient) -> None:
    light = await ship(client, oid())
    assert light.status_code == 201, light.text
    body = light.json()
    assert (body["carrier"], body["status"], body["currency"]) == ("PARCELNET", "LABELLED", "EUR")
    quoted = await tms.post(
        "/PARCELNET/rates",
        json={
            "weight_grams": 1000,
            "volume_cm3": 3000,
            "country": "DE",
            "postal_code": "10115",
            "service_level": "STANDARD",
        },
    )
    assert body["rate_cents"] == quoted.json()["rate_cents"]
    assert body["tracking_code"].startswith("PN")

    heavy = await ship(client, oid(), carton="M", weight_grams=12_000, volume_cm3=15_000)
    assert heavy.json()["carrier"] == "SWIFT"
    # Too heavy for PARCELNET: it refuses, SWIFT sells, and a refusal does not count against the carrier.
    too_heavy = await ship(client, oid(), carton="XL", weight_grams=35_000, volume_cm3=100_000)
    assert too_heavy.json()["carrier"] == "SWIFT"
    assert (await breakers(client))["PARCELNET"]["failures"] == 0


async def test_a_carrier_that_is_down_falls_over_to_the_next(client: httpx.AsyncClient, tms: httpx.AsyncClient) -> None:
    await fault(tms, "PARCELNET", outage=True)
    resp = await ship(client, oid())
    assert resp.status_code == 201
    assert resp.json()["carrier"] == "SWIFT"
    assert (await breakers(client))["PARCELNET"]["failures"] == 1


async def test_the_breaker_opens_after_repeated_failures_and_stops_calling_the_carrier(
    client: httpx.AsyncClient, tms: httpx.AsyncClient
) -> None:
    await fault(tms, "PARCELNET", outage=True)
    for _ in range(THRESHOLD):
        assert (await ship(client, oid())).json()["carrier"] == "SWIFT"
    state = (await breakers(client))["PARCELNET"]
    assert state["state"] == "open"
    assert state["opened_at"] is not None
    assert (await breakers(client))["SWIFT"]["state"] == "closed"
    seen = await calls(tms, "PARCELNET")
    for _ in range(3):
        assert (await ship(client, oid())).json()["carrier"] == "SWIFT"
    assert await calls(tms, "PARCELNET") == seen  # not one more call while open


async def test_after_the_reset_time_one_probe_closes_the_breaker(
    database_url: str, carrier_app: FastAPI, tms: httpx.AsyncClient
) -> None:
    app = shipping_app(carrier_app, carrier_breaker_reset_seconds=RESET_SECONDS)
    async with rolled_back_client(app, "shipping", database_url) as (client, _):
        await fault(tms, "PARCELNET", outage=True)
        for _ in range(2):
            await ship(client, oid())
        assert (await breakers(client))["PARCELNET"]["state"] == "open"
        await fault(tms, "PARCELNET", outage=False)
        await asyncio.sleep(RESET_SECONDS + 0.1)
        assert (await breakers(client))["PARCELNET"]["state"] == "half-open"
        seen = (await calls(tms, "PARCELNET"))["rates"]
        probe = await ship(client, oid())
        assert probe.json()["carrier"] == "PARCELNET"
        assert (await calls(tms, "PARCELNET"))["rates"] == seen + 1
        assert (await breakers(client))["PARCELNET"] | {"opened_at": None} == {
            "carrier": "PARCELNET",
            "state": "closed",
            "failures": 0,
            "opened_at": None,
        }


async def test_a_failed_probe_opens_the_breaker_again(
    database_url: str, carrier_app: FastAPI, tms: httpx.AsyncClient
) -> None:
    app = shipping_app(carrier_app, carrier_breaker_reset_seconds=RESET_SECONDS)
    async with rolled_back_client(app, "shipping", database_url) as (client, _):
        await fault(tms, "SWIFT", outage=True)
        for _ in range(2):
            await ship(client, oid())
        await asyncio.sleep(RESET_SECONDS + 0.1)
        await ship(client, oid())  # the probe fails
        assert (await breakers(client))["SWIFT"]["state"] == "open"


async def test_no_carrier_answers_is_503_and_open_breakers_are_not_called(
    client: httpx.AsyncClient, tms: httpx.AsyncClient
) -> None:
    order_id = oid()
    key = f"pps-{order_id}:buy_label"
    for carrier in ("SWIFT", "PARCELNET"):
        await fault(tms, carrier, outage=True)
    for _ in range(THRESHOLD):
        resp = await ship(client, order_id, key=key)
        assert (resp.status_code, resp.json()["type"]) == (503, "CarriersUnavailable")
    listed = (await client.get("/shipments", params={"order_id": order_id})).json()["items"]
    assert [s["status"] for s in listed] == ["PENDING"]
    assert {b["state"] for b in (await breakers(client)).values()} == {"open"}
    for carrier in ("SWIFT", "PARCELNET"):
        await fault(tms, carrier, outage=False)
    seen = [await calls(tms, carrier) for carrier in ("SWIFT", "PARCELNET")]
    # Both breakers are open: neither carrier is asked, and the answer stays 503 until they reset.
    again = await ship(client, order_id, key=key)
    assert (again.status_code, again.json()["type"]) == (503, "CarriersUnavailable")
    assert [await calls(tms, carrier) for carrier in ("SWIFT", "PARCELNET")] == seen


async def test_a_retry_after_503_buys_the_label(
    database_url: str, carrier_app: FastAPI, tms: httpx.AsyncClient
) -> None:
    app = shipping_app(carrier_app, carrier_breaker_threshold=5)
    async with rolled_back_client(app, "shipping", database_url) as (client, _):
        order_id = oid()
        key = f"pps-{order_id}:buy_label"
        await fault(tms, "SWIFT", fail_rate=1)
        await fault(tms, "PARCELNET", fail_rate=1)
        assert (await ship(client, order_id, key=key)).status_code == 503
        await fault(tms, "SWIFT", fail_rate=0)
        await fault(tms, "PARCELNET", fail_rate=0)
        done = await ship(client, order_id, key=key)
        assert (done.status_code, done.json()["status"]) == (201, "LABELLED")
        replay = await ship(client, order_id, key=key)
        assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (201, "true")
        assert replay.json() == done.json()


async def test_a_label_is_bought_once_per_order(
    client: httpx.AsyncClient, carrier_app: FastAPI, tms: httpx.AsyncClient
) -> None:
    order_id = oid()
    first = await ship(client, order_id, key="a")
    second = await ship(client, order_id, key="b")
    third = await ship(client, order_id)
    assert (first.status_code, second.status_code, third.status_code) == (201, 200, 200)
    assert first.json()["tracking_code"] == second.json()["tracking_code"] == third.json()["tracking_code"]
    assert len(carrier_labels(carrier_app, order_id)) == 1
    assert (await calls(tms, first.json()["carrier"]))["labels"] == 1
    other = await ship(client, order_id, carton="M")
    assert (other.status_code, other.json()["type"]) == (409, "ShipmentExists")


async def test_concurrent_requests_buy_one_label(
    fresh_database: FreshDatabase, carrier_app: FastAPI, tms: httpx.AsyncClient
) -> None:
    url = await seeded(await fresh_database("shipping"))
    async with committing_client(shipping_app(carrier_app), "shipping", url) as client:
        await fault(tms, "SWIFT", latency_ms=200)
        await fault(tms, "PARCELNET", latency_ms=200)
        order_id = oid()
        racing = await asyncio.gather(*(ship(client, order_id, key=f"k{i}") for i in range(6)))
        codes = sorted(r.status_code for r in racing)
        assert codes.count(201) == 1, [r.json() for r in racing]
        busy = [r.json()["type"] for r in racing if r.status_code != 201]
        assert set(busy) <= {"ShipmentInProgress"}
        settled = await ship(client, order_id, key="late")
        assert settled.status_code == 200
        assert (
            settled.json()["tracking_code"] == next(r for r in racing if r.status_code == 201).json()["tracking_code"]
        )
        assert len(carrier_labels(carrier_app, order_id)) == 1


async def test_void_voids_the_carrier_label_and_leaves_a_tombstone(
    client: httpx.AsyncClient, carrier_app: FastAPI
) -> None:
    order_id = oid()
    labelled = (await ship(client, order_id)).json()
    voided = await client.post(f"/shipments/{order_id}/void", headers={"Idempotency-Key": "v"})
    assert (voided.status_code, voided.json()) == (200, {"order_id": order_id, "status": "VOIDED"})
    assert [label["status"] for label in carrier_labels(carrier_app, order_id)] == ["VOIDED"]
    assert (await client.get(f"/shipments/{labelled['tracking_code']}")).json()["status"] == "VOIDED"
    late = await ship(client, order_id)
    assert (late.status_code, late.json()["type"]) == (409, "ShipmentVoided")
    again = await client.post(f"/shipments/{order_id}/void")
    assert again.json() == voided.json()


async def test_void_before_any_shipment_refuses_a_late_one(client: httpx.AsyncClient, carrier_app: FastAPI) -> None:
    order_id = oid()
    nothing = await client.post(f"/shipments/{order_id}/void")
    assert (nothing.status_code, nothing.json()) == (200, {"order_id": order_id, "status": None})
    late = await ship(client, order_id, key=f"pps-{order_id}:buy_label")
    assert (late.status_code, late.json()["type"]) == (409, "ShipmentVoided")
    assert carrier_labels(carrier_app, order_id) == []


async def test_a_void_the_carrier_missed_is_told_again_on_retry(
    client: httpx.AsyncClient, carrier_app: FastAPI, tms: httpx.AsyncClient
) -> None:
    order_id = oid()
    carrier = (await ship(client, order_id)).json()["carrier"]
    await fault(tms, carrier, outage=True)
    missed = await client.post(f"/shipments/{order_id}/void", headers={"Idempotency-Key": "v"})
    assert (missed.status_code, missed.json()["type"]) == (503, "CarriersUnavailable")
    assert [label["status"] for label in carrier_labels(carrier_app, order_id)] == ["ACTIVE"]
    await fault(tms, carrier, outage=False)
    told = await client.post(f"/shipments/{order_id}/void", headers={"Idempotency-Key": "v"})
    assert (told.status_code, told.json()["status"]) == (200, "VOIDED")
    assert [label["status"] for label in carrier_labels(carrier_app, order_id)] == ["VOIDED"]


async def test_a_void_wins_over_a_slow_label_purchase(
    fresh_database: FreshDatabase, carrier_app: FastAPI, tms: httpx.AsyncClient
) -> None:
    url = await seeded(await fresh_database("shipping"))
    async with committing_client(shipping_app(carrier_app, carrier_timeout_seconds=5), "shipping", url) as client:
        await fault(tms, "SWIFT", latency_ms=4000)
        await fault(tms, "PARCELNET", latency_ms=4000)
        order_id = oid()
        buying = asyncio.create_task(ship(client, order_id, key=f"pps-{order_id}:buy_label"))
        await asyncio.sleep(0.3)
        voided = await client.post(f"/shipments/{order_id}/void")
        assert not buying.done()  # the void did not wait for the carrier still answering the purchase
        assert voided.json()["status"] == "VOIDED"
        late = await buying
        assert (late.status_code, late.json()["type"]) == (409, "ShipmentVoided")
        assert [label["status"] for label in carrier_labels(carrier_app, order_id)] == ["VOIDED"]


async def test_the_label_is_a_pdf_with_the_tracking_code(client: httpx.AsyncClient) -> None:
    order_id = oid()
    labelled = (await ship(client, order_id, service_level="EXPRESS")).json()
    code = labelled["tracking_code"]
    assert (await client.get(f"/shipments/{code}")).json() == labelled
    pdf = await client.get(f"/shipments/{code}/label")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    for text in (code, labelled["carrier"], "EXPRESS", "Alice", "10115 Berlin", "PakLog Fulfilment Centre"):
        assert text.encode() in pdf.content, text
    assert (await client.get("/shipments/SW000000000000/label")).json()["type"] == "ShipmentNotFound"
    await client.post(f"/shipments/{order_id}/void")
    voided = await client.get(f"/shipments/{code}/label")
    assert (voided.status_code, voided.json()["type"]) == (409, "ShipmentVoided")


async def test_shipments_page_with_a_cursor_never_repeats_a_row(client: httpx.AsyncClient) -> None:
    made = [(await ship(client, oid())).json()["shipment_id"] for _ in range(5)]
    first = (await client.get("/shipments", params={"limit": 2})).json()
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    assert [s["shipment_id"] for s in first["items"]] == made[::-1][:2]
    newer = (await ship(client, oid())).json()["shipment_id"]  # arrives while the caller pages
    seen = [s["shipment_id"] for s in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = (await client.get("/shipments", params={"limit": 2, "cursor": cursor})).json()
        seen += [s["shipment_id"] for s in page["items"]]
        cursor = page["next_cursor"]
    assert seen == made[::-1]
    assert newer not in seen
    labelled = (await client.get("/shipments", params={"status": "LABELLED", "limit": 200})).json()
    assert labelled["total"] == 6
    bad = await client.get("/shipments", params={"cursor": "nonsense"})
    assert (bad.status_code, bad.json()["type"]) == (422, "InvalidCursor")


async def test_bad_input_is_refused(client: httpx.AsyncClient) -> None:
    unknown = await ship(client, oid(), carton="XXL")
    assert (unknown.status_code, unknown.json()["type"]) == (422, "UnknownCarton")
    assert (await ship(client, "bad id!")).status_code == 422
    assert (await ship(client, oid(), service_level="OVERNIGHT")).status_code == 422
    assert (await ship(client, oid(), weight_grams=0)).status_code == 422
