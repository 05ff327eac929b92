"""Bad input to the tracking routes is a 4xx and changes nothing: explicit cases, then the shipping app's
own OpenAPI document fed hostile values (as tests/services/test_fuzz_services.py does for other services)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.shipping.models import ShipmentStatus
from tests.fuzz import FuzzRequest
from tests.services.shipping.factories import labelled, make_shipment, post_event, shipping_app, tracking_event
from tests.services.test_fuzz_services import fuzz
from tests.support import rolled_back_client

#: The tracking code and event id the OpenAPI examples name (the fuzz run's plausible requests use them).
EXAMPLE_CODE = "SW0000000001"
BUDGET_SECONDS = 20

BAD_EVENTS: list[dict[str, Any]] = [
    {"event_id": ""},
    {"event_id": "x" * 101},
    {"event_id": "has space"},
    {"event_id": "slash/inside"},
    {"event_id": 12},
    {"carrier": "swift"},
    {"carrier": None},
    {"tracking_code": "SW-0001"},
    {"tracking_code": "S" * 33},
    {"status": "LABELLED"},
    {"status": "VOIDED"},
    {"status": "in_transit"},
    {"status": "LOST"},
    {"occurred_at": "2026-05-04T08:00:00"},  # no offset
    {"occurred_at": 1_777_000_000},  # a Unix time is not ISO 8601
    {"occurred_at": "yesterday"},
    {"occurred_at": "0001-01-01T00:00:00+14:00"},  # before year 1 in UTC
    {"occurred_at": None},
    {"position": {"lat": 90.5, "lon": 0}},
    {"position": {"lat": -91, "lon": 0}},
    {"position": {"lat": 0, "lon": 180.01}},
    {"position": {"lat": 0, "lon": -181}},
    {"position": {"lat": 10}},
    {"position": {"lat": 10, "lon": 10, "alt": 3}},
    {"position": {"lat": "10", "lon": 10}},
    {"position": [10, 10]},
    {"location": "x" * 201},
    {"reason": "x" * 201},
    {"reason": 5},
    {"location": "a\x00b"},  # the database cannot store it: refused, not a 500
    {"signature": "sha256=..."},
]


@pytest.mark.parametrize("change", BAD_EVENTS, ids=[repr(c)[:40] for c in BAD_EVENTS])
async def test_a_malformed_event_is_422_and_changes_nothing(client: httpx.AsyncClient, change: dict[str, Any]) -> None:
    parcel = await labelled(client)
    resp = await post_event(client, tracking_event(parcel, "IN_TRANSIT", 0) | change)
    assert (resp.status_code, resp.json()["type"]) == (422, "ValidationError"), resp.text
    tracked = (await client.get(f"/tracking/{parcel['tracking_code']}")).json()
    assert (tracked["status"], tracked["last_event_at"], tracked["trail"]) == ("LABELLED", None, [])


async def test_a_missing_field_and_a_non_object_body_are_422(client: httpx.AsyncClient) -> None:
    parcel = await labelled(client)
    for field in ("event_id", "carrier", "tracking_code", "status", "occurred_at"):
        body = tracking_event(parcel, "IN_TRANSIT", 0)
        del body[field]
        assert (await post_event(client, body)).status_code == 422, field
    for raw in (b"[]", b"null", b"{", b'"text"'):
        resp = await client.post("/tracking/events", content=raw, headers={"content-type": "application/json"})
        assert resp.status_code == 422, raw
    # The optional fields may be left out altogether.
    minimal = {k: v for k, v in tracking_event(parcel, "IN_TRANSIT", 0).items() if v is not None}
    assert (await post_event(client, minimal)).json()["result"] == "applied"


async def test_malformed_subscriptions_and_paths_are_422(client: httpx.AsyncClient) -> None:
    code = (await labelled(client))["tracking_code"]
    good = {"username": "alice", "email": "alice@example.com", "title": "A parcel"}
    for change in (
        {"username": "Al"},
        {"username": "ALICE"},
        {"username": "a" * 65},
        {"username": "-alice"},
        {"email": "not-an-address"},
        {"email": "a@" + "b" * 250 + ".de"},
        {"title": ""},
        {"title": "x" * 121},
        {"title": 7},
        {"title": None},
        {"extra": True},
    ):
        resp = await client.post(f"/tracking/{code}/subscriptions", json=good | change)
        assert (resp.status_code, resp.json()["type"]) == (422, "ValidationError"), change
    nul = await client.post(f"/tracking/{code}/subscriptions", json=good | {"title": "a\x00b"})
    assert (nul.status_code, nul.json()["type"]) == (422, "ValidationError")
    assert (await client.get(f"/tracking/{code}/subscriptions")).json() == []
    for method, path in (
        ("POST", "/tracking/SW-1/subscriptions"),
        ("DELETE", f"/tracking/{code}/subscriptions/Alice"),
        ("GET", "/tracking/" + "S" * 33),
        ("GET", "/tracking/SW-1/subscriptions"),
        ("POST", "/tracking/events/has%20space/forwarded"),
        ("POST", "/tracking/events/" + "e" * 101 + "/forwarded"),
        ("GET", "/subscriptions"),
        ("GET", "/subscriptions?username=Al"),
        ("GET", "/subscriptions?username=alice&limit=0"),
        ("GET", "/subscriptions?username=alice&limit=201"),
        ("GET", "/subscriptions?username=alice&offset=-1"),
    ):
        resp = await client.request(method, path, json=good if method == "POST" else None)
        assert resp.status_code == 422, (method, path, resp.text)


async def test_hostile_input_to_the_shipping_app_never_5xx_and_changes_nothing(
    database_url: str, carrier_app: FastAPI
) -> None:
    async with rolled_back_client(shipping_app(carrier_app), "shipping", database_url) as (http, sessions):
        # The labelled shipment the OpenAPI examples name (the carrier stand-in never sold it).
        await make_shipment(sessions, EXAMPLE_CODE, status=ShipmentStatus.LABELLED)
        tracked = 0

        def plausible_tracking_reaches_its_work(template: str, request: FuzzRequest, resp: httpx.Response) -> None:
            nonlocal tracked
            if request.kind == "plausible" and template.startswith(("/tracking", "/subscriptions")):
                assert resp.status_code < 300, f"{request.describe()}: {resp.status_code} {resp.text[:300]}"
                tracked += 1

        sent = await fuzz(http, sessions, "shipping", BUDGET_SECONDS, plausible_tracking_reaches_its_work)
        assert sent > 100
        assert tracked == 7, "every tracking route's plausible request must reach its work"
