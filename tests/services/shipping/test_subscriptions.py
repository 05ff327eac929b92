"""Subscriptions to a tracking code: one per user and code, updated on repeat, removed, listed with the
shipment's live status. Real PostgreSQL, the carrier stand-in in process."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from tests.services.shipping.factories import labelled, record, tracking_event


def follower(username: str = "alice", **overrides: Any) -> dict[str, Any]:
    return {"username": username, "email": f"{username}@example.com", "title": f"Parcel for {username}"} | overrides


async def subscribe(
    client: httpx.AsyncClient, tracking_code: str, body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await client.post(f"/tracking/{tracking_code}/subscriptions", json=body, headers=headers)


async def test_subscribing_twice_updates_the_one_subscription(client: httpx.AsyncClient) -> None:
    code = (await labelled(client))["tracking_code"]
    first = await subscribe(client, code, follower())
    assert first.status_code == 201, first.text
    made = first.json()
    assert {k: made[k] for k in ("tracking_code", "username", "email", "title")} == {
        "tracking_code": code,
        "username": "alice",
        "email": "alice@example.com",
        "title": "Parcel for alice",
    }
    again = await subscribe(client, code, follower(title="Birthday present", email="a.smith@example.org"))
    assert again.status_code == 200
    updated = again.json()
    assert (updated["title"], updated["email"], updated["created_at"]) == (
        "Birthday present",
        "a.smith@example.org",
        made["created_at"],
    )
    assert datetime.fromisoformat(updated["updated_at"]) > datetime.fromisoformat(made["updated_at"])
    await subscribe(client, code, follower("bob"))
    listed = (await client.get(f"/tracking/{code}/subscriptions")).json()
    assert [(s["username"], s["email"], s["title"]) for s in listed] == [
        ("alice", "a.smith@example.org", "Birthday present"),
        ("bob", "bob@example.com", "Parcel for bob"),
    ]


async def test_unsubscribing_removes_only_that_subscription(client: httpx.AsyncClient) -> None:
    code = (await labelled(client))["tracking_code"]
    for name in ("alice", "bob"):
        await subscribe(client, code, follower(name))
    gone = await client.delete(f"/tracking/{code}/subscriptions/alice")
    assert (gone.status_code, gone.content) == (204, b"")
    assert [s["username"] for s in (await client.get(f"/tracking/{code}/subscriptions")).json()] == ["bob"]
    again = await client.delete(f"/tracking/{code}/subscriptions/alice")
    assert (again.status_code, again.json()["type"]) == (404, "SubscriptionNotFound")
    never = await client.delete("/tracking/SW999999999999/subscriptions/bob")
    assert (never.status_code, never.json()["type"]) == (404, "SubscriptionNotFound")
    # With a key, a repeat replays the first answer.
    keyed = [
        await client.delete(f"/tracking/{code}/subscriptions/bob", headers={"Idempotency-Key": "u1"}) for _ in "ab"
    ]
    assert [r.status_code for r in keyed] == [204, 204]
    assert keyed[1].headers["Idempotent-Replayed"] == "true"
    assert (await client.get(f"/tracking/{code}/subscriptions")).json() == []
    # Subscribing again after leaving is a new subscription.
    assert (await subscribe(client, code, follower())).status_code == 201


async def test_a_keyed_subscribe_replays_its_first_answer(client: httpx.AsyncClient) -> None:
    code = (await labelled(client))["tracking_code"]
    first = await subscribe(client, code, follower(), key="s1")
    replay = await subscribe(client, code, follower(), key="s1")
    assert (first.status_code, replay.status_code, replay.headers["Idempotent-Replayed"]) == (201, 201, "true")
    assert replay.json() == first.json()
    assert (await subscribe(client, code, follower())).status_code == 200


async def test_unknown_tracking_codes_have_no_subscriptions(client: httpx.AsyncClient) -> None:
    for resp in (
        await subscribe(client, "SW999999999999", follower()),
        await client.get("/tracking/SW999999999999/subscriptions"),
    ):
        assert (resp.status_code, resp.json()["type"]) == (404, "ShipmentNotFound")
    assert (await client.get("/subscriptions", params={"username": "alice"})).json() == []


async def test_a_users_subscriptions_are_listed_newest_first_with_the_live_status(client: httpx.AsyncClient) -> None:
    parcels = [await labelled(client) for _ in range(3)]
    for i, parcel in enumerate(parcels):
        await subscribe(client, parcel["tracking_code"], follower("carol", title=f"Parcel {i}"))
    await subscribe(client, parcels[0]["tracking_code"], follower("dave"))
    await record(client, tracking_event(parcels[0], "OUT_FOR_DELIVERY", 5))

    listed = (await client.get("/subscriptions", params={"username": "carol"})).json()
    assert [(s["tracking_code"], s["title"], s["carrier"], s["status"]) for s in listed] == [
        (p["tracking_code"], f"Parcel {i}", p["carrier"], "OUT_FOR_DELIVERY" if i == 0 else "LABELLED")
        for i, p in reversed(list(enumerate(parcels)))
    ]
    assert listed[2]["last_event_at"] is not None
    assert listed[0]["last_event_at"] is None
    made = [datetime.fromisoformat(s["created_at"]) for s in listed]
    assert made == sorted(made, reverse=True)
    page = (await client.get("/subscriptions", params={"username": "carol", "limit": 2, "offset": 1})).json()
    assert [s["tracking_code"] for s in page] == [s["tracking_code"] for s in listed[1:3]]
    assert [s["title"] for s in (await client.get("/subscriptions", params={"username": "dave"})).json()] == [
        "Parcel for dave"
    ]
    # Retitling keeps the subscription's place (it is ordered by when it was made).
    await subscribe(client, parcels[0]["tracking_code"], follower("carol", title="Renamed"))
    relisted = (await client.get("/subscriptions", params={"username": "carol"})).json()
    assert [s["title"] for s in relisted] == ["Parcel 2", "Parcel 1", "Renamed"]
