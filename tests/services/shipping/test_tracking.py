"""Carrier events on shipments: applied, stale, duplicate, mismatched; out of order, concurrent, replayed;
DELIVERED is final; the forwarded flag; the trail. Real PostgreSQL, the carrier stand-in in process."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.shipping.models import ShipmentStatus
from tests.conftest import FreshDatabase
from tests.services.shipping.factories import (
    T0,
    at,
    labelled,
    make_shipment,
    post_event,
    record,
    seeded,
    ship,
    shipping_app,
    tracking_event,
)
from tests.support import committing_client

HUB = {"lat": 53.55, "lon": 9.99}
ROAD = {"lat": 52.9, "lon": 11.2}


async def trail_of(client: httpx.AsyncClient, tracking_code: str) -> dict[str, Any]:
    resp = await client.get(f"/tracking/{tracking_code}")
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_an_event_moves_the_shipment_and_joins_its_trail(client: httpx.AsyncClient) -> None:
    parcel = await labelled(client)
    code = parcel["tracking_code"]
    assert (parcel["last_event_at"], parcel["position"]) == (None, None)
    first = tracking_event(parcel, "IN_TRANSIT", 0, position=HUB, location="Hamburg hub")
    answer = await record(client, first)
    assert answer == {
        "event_id": first["event_id"],
        "order_id": parcel["order_id"],
        "tracking_code": code,
        "result": "applied",
        "status_changed": True,
        "status": "IN_TRANSIT",
        "forwarded": False,
    }
    shown = (await client.get(f"/shipments/{code}")).json()
    assert (shown["status"], when(shown["last_event_at"]), shown["position"]) == ("IN_TRANSIT", T0, HUB)

    onward = await record(client, tracking_event(parcel, "IN_TRANSIT", 30, position=ROAD, location="A24"))
    assert (onward["result"], onward["status_changed"], onward["status"]) == ("applied", False, "IN_TRANSIT")
    # An event without a position leaves the last one known.
    out = await record(client, tracking_event(parcel, "OUT_FOR_DELIVERY", 60))
    assert (out["result"], out["status_changed"], out["status"]) == ("applied", True, "OUT_FOR_DELIVERY")

    tracked = await trail_of(client, code)
    assert {k: tracked[k] for k in ("tracking_code", "carrier", "order_id", "status", "position")} == {
        "tracking_code": code,
        "carrier": parcel["carrier"],
        "order_id": parcel["order_id"],
        "status": "OUT_FOR_DELIVERY",
        "position": ROAD,
    }
    assert when(tracked["last_event_at"]) == T0 + timedelta(minutes=60)
    assert [(e["status"], e["location"], e["position"], e["applied"]) for e in tracked["trail"]] == [
        ("IN_TRANSIT", "Hamburg hub", HUB, True),
        ("IN_TRANSIT", "A24", ROAD, True),
        ("OUT_FOR_DELIVERY", None, None, True),
    ]
    assert all(e["received_at"] for e in tracked["trail"])


async def test_an_older_event_after_a_newer_one_is_stale_and_does_not_move_the_status_back(
    client: httpx.AsyncClient,
) -> None:
    parcel = await labelled(client)
    newer = await record(client, tracking_event(parcel, "OUT_FOR_DELIVERY", 60, position=ROAD))
    assert newer["result"] == "applied"
    older = tracking_event(parcel, "IN_TRANSIT", 10, position=HUB, location="Hamburg hub")
    late = await record(client, older)
    assert (late["result"], late["status_changed"], late["status"]) == ("stale", False, "OUT_FOR_DELIVERY")
    tracked = await trail_of(client, parcel["tracking_code"])
    assert (tracked["status"], tracked["position"]) == ("OUT_FOR_DELIVERY", ROAD)
    assert when(tracked["last_event_at"]) == T0 + timedelta(minutes=60)
    # The trail is in the order things happened, not the order they arrived.
    assert [(e["event_id"], e["status"], e["applied"]) for e in tracked["trail"]] == [
        (older["event_id"], "IN_TRANSIT", False),
        (newer["event_id"], "OUT_FOR_DELIVERY", True),
    ]
    # As old as the last applied event is not older: it applies.
    same_time = await record(client, tracking_event(parcel, "EXCEPTION", 60, reason="RECIPIENT_ABSENT"))
    assert (same_time["result"], same_time["status_changed"], same_time["status"]) == ("applied", True, "EXCEPTION")


async def test_delivered_is_final(client: httpx.AsyncClient) -> None:
    parcel = await labelled(client)
    await record(client, tracking_event(parcel, "OUT_FOR_DELIVERY", 10))
    delivered = await record(client, tracking_event(parcel, "DELIVERED", 20))
    assert (delivered["result"], delivered["status_changed"], delivered["status"]) == ("applied", True, "DELIVERED")
    for status, minutes in (("EXCEPTION", 30), ("IN_TRANSIT", 40), ("DELIVERED", 50)):
        later = await record(client, tracking_event(parcel, status, minutes, reason="DAMAGED", position=HUB))
        assert (later["result"], later["status_changed"], later["status"]) == ("stale", False, "DELIVERED")
    tracked = await trail_of(client, parcel["tracking_code"])
    assert (tracked["status"], tracked["position"]) == ("DELIVERED", None)
    assert when(tracked["last_event_at"]) == T0 + timedelta(minutes=20)
    assert [e["applied"] for e in tracked["trail"]] == [True, True, False, False, False]


async def test_a_repeated_event_is_a_duplicate_and_other_content_under_its_id_is_refused(
    client: httpx.AsyncClient,
) -> None:
    parcel = await labelled(client)
    first = tracking_event(parcel, "IN_TRANSIT", 0, position=HUB, location="Hamburg hub")
    assert (await record(client, first))["result"] == "applied"
    await record(client, tracking_event(parcel, "OUT_FOR_DELIVERY", 30))
    again = await record(client, first)
    # The first answer's status_changed, the shipment's status now.
    assert (again["result"], again["status_changed"], again["status"]) == ("duplicate", True, "OUT_FOR_DELIVERY")
    # The same instant written with another offset is the same event.
    shifted = first | {"occurred_at": T0.astimezone(timezone(timedelta(hours=2))).isoformat()}
    assert (await record(client, shifted))["result"] == "duplicate"

    for change in (
        {"location": "Bremen hub"},
        {"status": "EXCEPTION"},
        {"occurred_at": at(1)},
        {"position": ROAD},
        {"position": None},
        {"reason": "DAMAGED"},
    ):
        resp = await post_event(client, first | change)
        assert (resp.status_code, resp.json()["type"]) == (409, "EventMismatch"), change
    other = await labelled(client)
    stolen = await post_event(client, tracking_event(other, "IN_TRANSIT", 0, event_id=first["event_id"]))
    assert (stolen.status_code, stolen.json()["type"]) == (409, "EventMismatch")
    assert (await trail_of(client, other["tracking_code"]))["trail"] == []
    tracked = await trail_of(client, parcel["tracking_code"])
    assert (tracked["status"], len(tracked["trail"])) == ("OUT_FOR_DELIVERY", 2)


async def test_an_event_replayed_100_times_applies_once(client: httpx.AsyncClient) -> None:
    parcel = await labelled(client)
    event = tracking_event(parcel, "IN_TRANSIT", 0)
    answers = [await record(client, event) for _ in range(100)]
    assert [a["result"] for a in answers] == ["applied"] + ["duplicate"] * 99
    assert {a["status_changed"] for a in answers} == {True}
    assert len((await trail_of(client, parcel["tracking_code"]))["trail"]) == 1


async def test_an_idempotency_key_replays_the_first_answer(client: httpx.AsyncClient) -> None:
    parcel = await labelled(client)
    event = tracking_event(parcel, "IN_TRANSIT", 0)
    first = await post_event(client, event, key="gw-1")
    replay = await post_event(client, event, key="gw-1")
    assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (200, "true")
    assert replay.json() == first.json() | {"result": "applied"}
    # Without the key (or with another), the event id still dedupes.
    assert (await record(client, event))["result"] == "duplicate"
    assert (await post_event(client, event, key="gw-2")).json()["result"] == "duplicate"
    reused = await post_event(client, tracking_event(parcel, "IN_TRANSIT", 5), key="gw-1")
    assert (reused.status_code, reused.json()["type"]) == (409, "IdempotencyKeyReused")


async def test_forwarded_is_recorded_once_and_shown_on_duplicates(client: httpx.AsyncClient) -> None:
    parcel = await labelled(client)
    event = tracking_event(parcel, "IN_TRANSIT", 0)
    assert (await record(client, event))["forwarded"] is False
    assert (await record(client, event))["forwarded"] is False
    for key in ("fw-1", None, "fw-1"):
        resp = await client.post(
            f"/tracking/events/{event['event_id']}/forwarded", headers={"Idempotency-Key": key} if key else {}
        )
        assert (resp.status_code, resp.json()) == (200, {"event_id": event["event_id"], "forwarded": True})
    assert (await record(client, event))["forwarded"] is True
    # A stale event is forwarded like any other (the workflow ignores what it does not need).
    await record(client, tracking_event(parcel, "OUT_FOR_DELIVERY", 30))
    stale = tracking_event(parcel, "IN_TRANSIT", 10)
    assert (await record(client, stale))["forwarded"] is False
    assert (await client.post(f"/tracking/events/{stale['event_id']}/forwarded")).status_code == 200
    unknown = await client.post("/tracking/events/SWIFT-nothing-1/forwarded")
    assert (unknown.status_code, unknown.json()["type"]) == (404, "EventNotFound")


async def test_events_for_unknown_foreign_voided_or_pending_shipments_are_refused(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    parcel = await labelled(client)
    unknown = await post_event(client, tracking_event(parcel, "IN_TRANSIT", 0, tracking_code="SW999999999999"))
    assert (unknown.status_code, unknown.json()["type"]) == (404, "ShipmentNotFound")
    other_carrier = "SWIFT" if parcel["carrier"] == "PARCELNET" else "PARCELNET"
    foreign = await post_event(client, tracking_event(parcel, "IN_TRANSIT", 0, carrier=other_carrier))
    assert (foreign.status_code, foreign.json()["type"]) == (404, "ShipmentNotFound")
    missing = await client.get("/tracking/SW999999999999")
    assert (missing.status_code, missing.json()["type"]) == (404, "ShipmentNotFound")

    await client.post(f"/shipments/{parcel['order_id']}/void")
    voided = await post_event(client, tracking_event(parcel, "IN_TRANSIT", 0))
    assert (voided.status_code, voided.json()["type"], voided.json()["status"]) == (
        409,
        "ShipmentNotLabelled",
        "VOIDED",
    )
    assert (await trail_of(client, parcel["tracking_code"]))["trail"] == []

    # No route leaves a pending shipment with a tracking code, but the rule holds for one.
    pending = await make_shipment(sessions, "SW0PENDING0001", status=ShipmentStatus.PENDING)
    refused = await post_event(client, tracking_event(pending, "IN_TRANSIT", 0))
    assert (refused.status_code, refused.json()["type"], refused.json()["status"]) == (
        409,
        "ShipmentNotLabelled",
        "PENDING",
    )


async def test_a_shipment_the_carrier_moved_is_answered_as_it_is_never_labelled_again(
    client: httpx.AsyncClient, carrier_app: FastAPI
) -> None:
    parcel = await labelled(client)
    await record(client, tracking_event(parcel, "IN_TRANSIT", 0, position=HUB))
    again = await ship(client, parcel["order_id"], key="another-key")
    assert again.status_code == 200
    assert (again.json()["tracking_code"], again.json()["status"]) == (parcel["tracking_code"], "IN_TRANSIT")
    assert len(carrier_app.state.desk.store.for_reference(parcel["order_id"])) == 1


async def test_concurrent_events_for_one_shipment_are_serialised(
    fresh_database: FreshDatabase, carrier_app: FastAPI
) -> None:
    url = await seeded(await fresh_database("shipping"))
    async with committing_client(shipping_app(carrier_app), "shipping", url) as client:
        parcel = await labelled(client)
        statuses = ["IN_TRANSIT", "OUT_FOR_DELIVERY", "EXCEPTION"]
        events = [tracking_event(parcel, statuses[i % 3], i, position={"lat": i, "lon": i}) for i in range(24)]
        newest = events[-1]
        random.Random(7).shuffle(events)
        answers = await asyncio.gather(*(record(client, e) for e in events))
        assert {a["result"] for a in answers} <= {"applied", "stale"}

        tracked = await trail_of(client, parcel["tracking_code"])
        # Whatever the arrival order, the shipment ends at the newest event.
        assert (tracked["status"], tracked["position"]) == (newest["status"], newest["position"])
        assert when(tracked["last_event_at"]) == when(newest["occurred_at"])
        assert [e["occurred_at"] for e in tracked["trail"]] == sorted(e["occurred_at"] for e in tracked["trail"])
        # Replaying the arrivals one at a time gives the flags each event got: none thought it newest wrongly.
        last: datetime | None = None
        for entry in sorted(tracked["trail"], key=lambda e: when(e["received_at"])):
            newer = last is None or when(entry["occurred_at"]) >= last
            assert entry["applied"] is newer, entry
            if newer:
                last = when(entry["occurred_at"])
        by_id = {a["event_id"]: a for a in answers}
        assert all(by_id[e["event_id"]]["result"] == ("applied" if e["applied"] else "stale") for e in tracked["trail"])


async def test_one_event_posted_100_times_at_once_applies_once(
    fresh_database: FreshDatabase, carrier_app: FastAPI
) -> None:
    url = await seeded(await fresh_database("shipping"))
    async with committing_client(shipping_app(carrier_app), "shipping", url) as client:
        parcel = await labelled(client)
        event = tracking_event(parcel, "IN_TRANSIT", 0)
        answers = await asyncio.gather(*(record(client, event) for _ in range(100)))
        assert sorted(a["result"] for a in answers) == ["applied"] + ["duplicate"] * 99
        assert {(a["status_changed"], a["status"]) for a in answers} == {(True, "IN_TRANSIT")}
        assert len((await trail_of(client, parcel["tracking_code"]))["trail"]) == 1
