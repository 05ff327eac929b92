"""The carrier stand-in (a simulated TMS): tariffs, idempotent labels that survive a restart, injected faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.carriers.app import create_app, main
from services.carriers.settings import CarriersSettings
from tests.support import service_credential


def stand_in(state_dir: Path) -> httpx.AsyncClient:
    app = create_app(CarriersSettings(environment="test", state_dir=state_dir))
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://carriers", headers=service_credential()
    )


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with stand_in(tmp_path) as client:
        yield client


def parcel(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "weight_grams": 1000,
        "volume_cm3": 3000,
        "country": "DE",
        "postal_code": "10115",
        "service_level": "STANDARD",
    }
    return body | overrides


def label_request(reference: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "reference": reference,
        "weight_grams": 1000,
        "volume_cm3": 3000,
        "service_level": "STANDARD",
        "carton": "S",
        "destination": {
            "name": "Alice",
            "line1": "1 Street",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
    }
    return body | overrides


async def rate(client: httpx.AsyncClient, carrier: str, **overrides: Any) -> int:
    resp = await client.post(f"/{carrier}/rates", json=parcel(**overrides))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert (body["carrier"], body["currency"]) == (carrier, "EUR")
    return int(body["rate_cents"])


async def test_tariffs_differ_so_rate_shopping_matters(client: httpx.AsyncClient) -> None:
    # Light parcels are cheaper with PARCELNET, heavy ones and express abroad with SWIFT.
    assert await rate(client, "PARCELNET") < await rate(client, "SWIFT")
    assert await rate(client, "SWIFT", weight_grams=10_000) < await rate(client, "PARCELNET", weight_grams=10_000)
    # Prices are deterministic and grow with weight, volume, distance and speed.
    assert await rate(client, "SWIFT") == await rate(client, "SWIFT")
    base = await rate(client, "SWIFT")
    assert await rate(client, "SWIFT", volume_cm3=40_000) > base
    assert await rate(client, "SWIFT", country="FR") > base
    assert await rate(client, "SWIFT", postal_code="25980") > base
    assert await rate(client, "SWIFT", service_level="EXPRESS") > base
    express = (await client.post("/SWIFT/rates", json=parcel(service_level="EXPRESS"))).json()
    standard = (await client.post("/SWIFT/rates", json=parcel())).json()
    assert express["transit_days"] < standard["transit_days"]


async def test_a_parcel_too_heavy_for_a_carrier_is_refused(client: httpx.AsyncClient) -> None:
    resp = await client.post("/PARCELNET/rates", json=parcel(weight_grams=35_000))
    assert (resp.status_code, resp.json()["type"]) == (422, "ParcelRefused")
    assert (await client.post("/SWIFT/rates", json=parcel(weight_grams=35_000))).status_code == 200
    assert (await client.post("/NOBODY/rates", json=parcel())).status_code == 422


async def test_one_label_per_reference_even_at_once_and_after_a_restart(tmp_path: Path) -> None:
    async with stand_in(tmp_path) as client:
        answers = await asyncio.gather(*(client.post("/SWIFT/labels", json=label_request("order-1")) for _ in range(5)))
        assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201]
        codes = {a.json()["tracking_code"] for a in answers}
        assert len(codes) == 1
        first = answers[0].json()
        assert first["tracking_code"].startswith("SW")
        assert first["label"]["destination"]["city"] == "Berlin"
        assert first["label"]["rate_cents"] == await rate(client, "SWIFT")
    async with stand_in(tmp_path) as restarted:
        again = await restarted.post("/SWIFT/labels", json=label_request("order-1"))
        assert (again.status_code, again.json()["tracking_code"]) == (200, first["tracking_code"])
        other = await restarted.post("/PARCELNET/labels", json=label_request("order-2"))
        assert other.status_code == 201
        assert other.json()["tracking_code"].startswith("PN")


async def test_void_a_label(client: httpx.AsyncClient) -> None:
    code = (await client.post("/SWIFT/labels", json=label_request("order-v"))).json()["tracking_code"]
    voided = await client.post(f"/SWIFT/labels/{code}/void")
    assert (voided.status_code, voided.json()["status"]) == (200, "VOIDED")
    assert (await client.post(f"/SWIFT/labels/{code}/void")).json()["status"] == "VOIDED"
    unknown = await client.post("/PARCELNET/labels/PN000/void")
    assert (unknown.status_code, unknown.json()["type"]) == (404, "UnknownLabel")


async def test_injected_outage_failures_and_latency(client: httpx.AsyncClient) -> None:
    down = await client.post("/control", json={"carrier": "SWIFT", "outage": True})
    assert down.json()["outage"] is True
    resp = await client.post("/SWIFT/rates", json=parcel())
    assert (resp.status_code, resp.json()["type"]) == (503, "CarrierOutage")
    assert (await client.post("/PARCELNET/rates", json=parcel())).status_code == 200

    await client.post("/control", json={"carrier": "SWIFT", "outage": False, "fail_rate": 1})
    resp = await client.post("/SWIFT/labels", json=label_request("order-f"))
    assert (resp.status_code, resp.json()["type"]) == (503, "CarrierFailure")

    await client.post("/control", json={"carrier": "SWIFT", "fail_rate": 0, "latency_ms": 200})
    started = time.monotonic()
    assert (await client.post("/SWIFT/rates", json=parcel())).status_code == 200
    assert time.monotonic() - started >= 0.2

    state = {c["carrier"]: c for c in (await client.get("/control")).json()}
    assert state["SWIFT"]["latency_ms"] == 200
    assert state["SWIFT"]["calls"] == {"rates": 2, "labels": 1, "voids": 0}
    assert state["PARCELNET"]["calls"]["rates"] == 1


async def test_it_answers_only_paklog_processes(client: httpx.AsyncClient) -> None:
    resp = await client.post("/SWIFT/rates", json=parcel(), headers={"X-PakLog-Service-Token": "wrong"})
    assert (resp.status_code, resp.json()["type"]) == (401, "InvalidServiceCredential")
    async with httpx.AsyncClient(transport=client._transport, base_url="http://carriers") as anonymous:
        assert (await anonymous.get("/control")).status_code == 401
        assert (await anonymous.get("/healthz")).json() == {"status": "ok"}


def test_main_reads_port_and_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_run(app: Any, **options: Any) -> None:
        seen.update(options, app=app)

    monkeypatch.setattr("services.carriers.app.uvicorn.run", fake_run)
    main(["--port", "8299", "--state-dir", str(tmp_path / "state")])
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8299)
    assert seen["app"].state.settings.database_path == tmp_path / "state" / "carriers.sqlite3"
    assert (tmp_path / "state" / "carriers.sqlite3").exists()
