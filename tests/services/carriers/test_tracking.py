"""The stand-in's journeys and webhook outbox: real SQLite, real HTTP to a real receiving server.

Each test runs the stand-in with its lifespan (the courier), on a state
folder of its own, at ``step_seconds`` 0.05; it waits with deadlines, never
asserting how fast anything went.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr, ValidationError

from common.settings import ServiceCredential
from common.webhooks import carrier_secret, verify
from services.carriers.app import create_app, main
from services.carriers.courier import retry_delay
from services.carriers.journeys import EXCEPTION_REASONS, HUBS, destination_point
from services.carriers.models import TrackingKnobs
from services.carriers.pricing import Carrier
from services.carriers.settings import CarriersSettings
from tests.services.carriers.receiver import Post, receiver
from tests.services.carriers.test_carriers import label_request
from tests.support import free_port, service_credential

STEP = 0.05
DEADLINE_SECONDS = 30.0
PARCELNET_SECRET = "a-parcelnet-secret-configured-for-this-deployment"
T = TypeVar("T")
FULL_JOURNEY = ["IN_TRANSIT", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"]


@asynccontextmanager
async def stand_in(
    state_dir: Path, webhook_url: str | None = None, **control: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """The stand-in with its courier running (as under uvicorn), journeys at ``STEP`` unless ``control`` says."""
    settings = CarriersSettings(
        environment="test",
        state_dir=state_dir,
        carrier_webhook_url=webhook_url,
        carrier_secrets={"PARCELNET": SecretStr(PARCELNET_SECRET)},
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://carriers", headers=service_credential()
        ) as client,
    ):
        resp = await client.post("/control", json={"step_seconds": STEP, **control})
        assert resp.status_code == 200, resp.text
        yield client, app


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Poll ``probe`` until it returns something truthy, or fail after the deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        found = await probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def sell(client: httpx.AsyncClient, carrier: str, reference: str, **destination: str) -> str:
    body = label_request(reference)
    body["destination"] |= destination
    resp = await client.post(f"/{carrier}/labels", json=body)
    assert resp.status_code == 201, resp.text
    code: str = resp.json()["tracking_code"]
    return code


async def outbox(client: httpx.AsyncClient, tracking_code: str, **params: Any) -> list[dict[str, Any]]:
    resp = await client.get("/events", params={"tracking_code": tracking_code, **params})
    assert resp.status_code == 200, resp.text
    events: list[dict[str, Any]] = resp.json()
    return events


async def settled(client: httpx.AsyncClient, tracking_code: str, last_status: str | None) -> list[dict[str, Any]]:
    """The shipment's outbox once its ``last_status`` event (None: any) left it, and nothing is pending."""

    async def probe() -> list[dict[str, Any]] | None:
        events = await outbox(client, tracking_code)
        done = events and last_status in (None, events[-1]["status"])
        return events if done and all(e["state"] != "pending" for e in events) else None

    return await eventually(probe, f"{tracking_code} to post {last_status}")


def journey_state(app: FastAPI, tracking_code: str) -> str:
    journey = app.state.desk.tracking.journey(tracking_code)
    assert journey is not None
    state: str = journey["state"]
    return state


def km(a: dict[str, float], b: tuple[float, float]) -> float:
    """Distance, roughly (flat earth is fine at this scale)."""
    dlat = (a["lat"] - b[0]) * 111
    dlon = (a["lon"] - b[1]) * 111 * math.cos(math.radians(b[0]))
    return math.hypot(dlat, dlon)


def statuses(posts: list[Post]) -> list[str]:
    return [p.event["status"] for p in posts]


async def test_a_journey_posts_every_event_signed_in_order(tmp_path: Path) -> None:
    async with receiver() as hook, stand_in(tmp_path, hook.url) as (client, app):
        swift = await sell(client, "SWIFT", "order-j1", postal_code="80331", city="München")
        parcelnet = await sell(client, "PARCELNET", "order-j2", postal_code="20095", city="Hamburg")
        events = await settled(client, swift, "DELIVERED")
        await settled(client, parcelnet, "DELIVERED")

        assert [e["status"] for e in events] == FULL_JOURNEY
        assert [e["event_id"] for e in events] == [f"SWIFT-{swift}-{n}" for n in (1, 2, 3, 4)]
        assert all((e["state"], e["attempts"], e["answer_status"]) == ("delivered", 1, 200) for e in events)
        assert journey_state(app, swift) == "delivered"

        token = ServiceCredential().service_token.get_secret_value()
        for code, carrier, secret in (
            (swift, "SWIFT", carrier_secret(token, "SWIFT", None)),
            (parcelnet, "PARCELNET", PARCELNET_SECRET),
        ):
            posts = hook.of(code)
            assert statuses(posts) == FULL_JOURNEY  # each once, in order
            assert {p.carrier for p in posts} == {carrier}
            other = carrier_secret(token, "SWIFT" if carrier == "PARCELNET" else "PARCELNET", None)
            for post in posts:
                assert verify(secret, post.body, post.signature), post
                assert not verify(other, post.body, post.signature)
            # What /events shows is exactly what was posted.
            assert [p.event for p in posts] == [e["body"] for e in await outbox(client, code)]

        bodies = [p.event for p in hook.of(swift)]
        assert all(
            list(b)
            == ["event_id", "tracking_code", "carrier", "status", "occurred_at", "position", "location", "reason"]
            for b in bodies
        )
        assert all((b["tracking_code"], b["carrier"], b["reason"]) == (swift, "SWIFT", None) for b in bodies)
        assert all(b["location"] for b in bodies)
        times = [datetime.fromisoformat(b["occurred_at"]) for b in bodies]
        assert all(t.utcoffset() is not None for t in times)
        assert times == sorted(times)
        # From the hub near Kassel toward Munich: each position nearer the door, the last one at it.
        home = destination_point("DE", "80331")
        hub = HUBS[Carrier.SWIFT].position
        distances = [km(b["position"], (home.lat, home.lon)) for b in bodies]
        assert km({"lat": hub.lat, "lon": hub.lon}, (home.lat, home.lon)) > distances[0] > distances[1] > distances[2]
        assert distances[3] == 0
        assert destination_point("DE", "80331") == home  # deterministic
        # PARCELNET leaves from Leipzig.
        first = hook.of(parcelnet)[0].event["position"]
        leipzig, kassel = HUBS[Carrier.PARCELNET].position, HUBS[Carrier.SWIFT].position
        assert km(first, (leipzig.lat, leipzig.lon)) < km(first, (kassel.lat, kassel.lon))

        control = {c["carrier"]: c for c in (await client.get("/control")).json()}
        assert control["SWIFT"]["outbox"] == {"pending": 0, "delivered": 4, "rejected": 0}
        assert control["SWIFT"]["webhook_url"] == f"{hook.url}/SWIFT"


@pytest.mark.parametrize(
    ("recovery_rate", "expected", "end"),
    [
        (0.0, ["IN_TRANSIT", "IN_TRANSIT", "OUT_FOR_DELIVERY", "EXCEPTION"], "stopped"),
        (
            1.0,
            ["IN_TRANSIT", "IN_TRANSIT", "OUT_FOR_DELIVERY", "EXCEPTION", "OUT_FOR_DELIVERY", "DELIVERED"],
            "delivered",
        ),
    ],
)
async def test_a_failed_delivery_ends_or_is_tried_again(
    tmp_path: Path, recovery_rate: float, expected: list[str], end: str
) -> None:
    async with (
        receiver() as hook,
        stand_in(tmp_path, hook.url, exception_rate=1, recovery_rate=recovery_rate) as (client, app),
    ):
        code = await sell(client, "SWIFT", "order-x")
        events = await settled(client, code, expected[-1])
        assert journey_state(app, code) == end
        # Nothing follows, however long one waits (here: many steps).
        await asyncio.sleep(20 * STEP)
        assert [e["status"] for e in await outbox(client, code)] == expected
        assert statuses(hook.of(code)) == expected
        exception = next(e["body"] for e in events if e["status"] == "EXCEPTION")
        assert exception["reason"] in EXCEPTION_REASONS
        assert exception["location"]


async def test_a_voided_label_makes_no_more_events(tmp_path: Path) -> None:
    async with receiver() as hook, stand_in(tmp_path, hook.url, step_seconds=0.3) as (client, app):
        code = await sell(client, "SWIFT", "order-v")
        await eventually(lambda: outbox(client, code), "the pick-up")
        assert (await client.post(f"/SWIFT/labels/{code}/void")).json()["status"] == "VOIDED"
        made = [e["event_id"] for e in await outbox(client, code)]
        assert journey_state(app, code) == "voided"
        await asyncio.sleep(6 * 0.3)
        # What happened before the void is still told; nothing after it.
        events = await settled(client, code, None)
        assert [e["event_id"] for e in events] == made
        assert len(made) < len(FULL_JOURNEY)
        assert [p.event["event_id"] for p in hook.of(code)] == made
        # A label sold after it still travels: the courier is alive.
        await client.post("/control", json={"step_seconds": STEP})
        other = await sell(client, "SWIFT", "order-v2")
        await settled(client, other, "DELIVERED")


async def test_failures_are_retried_and_events_stay_in_order(tmp_path: Path) -> None:
    def flaky(post: Post, earlier: int) -> tuple[int, str]:
        # The first event fails twice (503, then 500) before it is taken; the third once.
        if post.seq == 1 and earlier < 2:
            return (503, 500)[earlier], '{"type": "Unavailable"}'
        if post.seq == 3 and earlier == 0:
            return 502, "bad gateway"
        return 200, "{}"

    async with receiver(flaky) as hook, stand_in(tmp_path, hook.url) as (client, _):
        code = await sell(client, "PARCELNET", "order-r")
        events = await settled(client, code, "DELIVERED")
        assert [e["status"] for e in events] == FULL_JOURNEY
        assert [e["attempts"] for e in events] == [3, 1, 2, 1]
        assert all(e["state"] == "delivered" for e in events)
        # Every post of an event came after the previous event was acknowledged: seq never goes back.
        seqs = [p.seq for p in hook.of(code)]
        assert seqs == [1, 1, 1, 2, 3, 3, 4]
        assert [p.seq for p in hook.acknowledged(code)] == [1, 2, 3, 4]
        # Each retry sent the very same bytes.
        assert len({p.body for p in hook.of(code) if p.seq == 1}) == 1


async def test_a_4xx_is_final_and_the_journey_goes_on(tmp_path: Path) -> None:
    refusal = json.dumps({"type": "ShipmentNotLabelled", "detail": "x" * 5000})

    def refuse_second(post: Post, earlier: int) -> tuple[int, str]:
        return (409, refusal) if post.seq == 2 else (200, "{}")

    async with receiver(refuse_second) as hook, stand_in(tmp_path, hook.url) as (client, _):
        code = await sell(client, "SWIFT", "order-4xx")
        events = await settled(client, code, "DELIVERED")
        assert [(e["state"], e["attempts"]) for e in events] == [
            ("delivered", 1),
            ("rejected", 1),
            ("delivered", 1),
            ("delivered", 1),
        ]
        rejected = events[1]
        assert rejected["answer_status"] == 409
        assert rejected["answer"].startswith('{"type": "ShipmentNotLabelled"')
        assert 100 < len(rejected["answer"]) < len(refusal)  # kept, truncated
        assert [p.seq for p in hook.of(code)] == [1, 2, 3, 4]  # never tried again
        listed = await outbox(client, code, state="rejected")
        assert [e["event_id"] for e in listed] == [rejected["event_id"]]
        control = {c["carrier"]: c for c in (await client.get("/control")).json()}
        assert control["SWIFT"]["outbox"] == {"pending": 0, "delivered": 3, "rejected": 1}


async def test_a_restarted_stand_in_resumes_its_journeys_and_pending_events(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/api/webhooks/carriers"  # nothing listens: connection refused
    async with stand_in(tmp_path, nobody) as (client, _):
        code = await sell(client, "SWIFT", "order-restart")

        async def tried() -> list[dict[str, Any]] | None:
            events = await outbox(client, code)
            return events if len(events) >= 2 and events[0]["attempts"] >= 1 else None

        before = await eventually(tried, "events queued and tried")
        assert all(e["state"] == "pending" for e in before)
        assert before[0]["answer_status"] is None
        assert "Connect" in before[0]["answer"]
        assert before[0]["next_attempt_at"] is not None
    # A new process on the same file, with the gateway up this time.
    async with receiver() as hook, stand_in(tmp_path, hook.url) as (client, app):
        events = await settled(client, code, "DELIVERED")
        assert [e["status"] for e in events] == FULL_JOURNEY
        assert [p.seq for p in hook.of(code)] == [1, 2, 3, 4]
        assert journey_state(app, code) == "delivered"
        assert (await client.post("/SWIFT/labels", json=label_request("order-restart"))).json()["tracking_code"] == code


async def test_without_a_webhook_url_events_queue(tmp_path: Path) -> None:
    async with stand_in(tmp_path) as (client, _):
        code = await sell(client, "SWIFT", "order-q")
        events = await settled_pending(client, code)
        assert [e["status"] for e in events] == FULL_JOURNEY
        assert all((e["state"], e["attempts"]) == ("pending", 0) for e in events)
        control = {c["carrier"]: c for c in (await client.get("/control")).json()}
        assert (control["SWIFT"]["webhook_url"], control["SWIFT"]["outbox"]["pending"]) == (None, 4)


async def settled_pending(client: httpx.AsyncClient, code: str) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        events = await outbox(client, code)
        return events if events and events[-1]["status"] == "DELIVERED" else None

    return await eventually(probe, "the whole journey queued")


async def test_duplicates_post_the_same_bytes_twice(tmp_path: Path) -> None:
    async with receiver() as hook, stand_in(tmp_path, hook.url, duplicate_rate=1) as (client, _):
        code = await sell(client, "SWIFT", "order-dup")
        events = await settled(client, code, "DELIVERED")
        assert all(e["duplicated"] and e["state"] == "delivered" for e in events)
        posts = hook.of(code)
        assert [p.seq for p in posts] == [1, 1, 2, 2, 3, 3, 4, 4]
        assert all(
            a.body == b.body and a.signature == b.signature for a, b in zip(posts[::2], posts[1::2], strict=True)
        )


@pytest.mark.parametrize(
    "change",
    [
        {"step_seconds": 0.01},
        {"step_seconds": 0},
        {"step_seconds": 3601},
        {"step_seconds": "fast"},
        {"exception_rate": 1.5},
        {"exception_rate": -0.1},
        {"recovery_rate": 2},
        {"duplicate_rate": -1},
        {"duplicate_rate": True},
        {"carrier": "NOBODY", "step_seconds": 1},
        {"speed": 2},
    ],
)
async def test_control_refuses_values_out_of_range(tmp_path: Path, change: dict[str, Any]) -> None:
    async with stand_in(tmp_path) as (client, _):
        before = (await client.get("/control")).json()
        resp = await client.post("/control", json=change)
        assert resp.status_code == 422, resp.text
        assert (await client.get("/control")).json() == before


async def test_control_changes_one_carrier_or_all(tmp_path: Path) -> None:
    app = create_app(CarriersSettings(environment="test", state_dir=tmp_path))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://carriers", headers=service_credential()
    ) as client:
        defaults = TrackingKnobs().model_dump()
        assert defaults == {"step_seconds": 2.0, "exception_rate": 0.0, "recovery_rate": 0.5, "duplicate_rate": 0.0}
        for entry in (await client.get("/control")).json():
            assert {k: entry[k] for k in defaults} == defaults
            assert entry["outbox"] == {"pending": 0, "delivered": 0, "rejected": 0}

        both = await client.post("/control", json={"step_seconds": 0.5, "exception_rate": 0.25, "latency_ms": 10})
        assert both.status_code == 200, both.text
        assert [(c["carrier"], c["step_seconds"], c["exception_rate"], c["latency_ms"]) for c in both.json()] == [
            ("SWIFT", 0.5, 0.25, 10),
            ("PARCELNET", 0.5, 0.25, 10),
        ]
        one = await client.post("/control", json={"carrier": "PARCELNET", "duplicate_rate": 1, "recovery_rate": 0})
        assert (one.json()["carrier"], one.json()["duplicate_rate"], one.json()["recovery_rate"]) == ("PARCELNET", 1, 0)
        state = {c["carrier"]: c for c in (await client.get("/control")).json()}
        assert (state["SWIFT"]["duplicate_rate"], state["SWIFT"]["recovery_rate"]) == (0, 0.5)
        assert state["PARCELNET"]["step_seconds"] == 0.5

        for query in ({"limit": 0}, {"limit": 1001}, {"state": "lost"}, {"tracking_code": "sw1"}):
            assert (await client.get("/events", params=query)).status_code == 422, query
        async with httpx.AsyncClient(transport=client._transport, base_url="http://carriers") as anonymous:
            assert (await anonymous.get("/events")).status_code == 401


async def test_a_faster_pace_applies_to_steps_already_planned(tmp_path: Path) -> None:
    async with receiver() as hook, stand_in(tmp_path, hook.url, step_seconds=3600) as (client, _):
        code = await sell(client, "SWIFT", "order-slow")
        await client.post("/control", json={"carrier": "SWIFT", "step_seconds": STEP})
        await settled(client, code, "DELIVERED")
        assert statuses(hook.of(code)) == FULL_JOURNEY


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PAKLOG_CARRIER_SECRETS", json.dumps({"SWIFT": "s" * 40}))
    monkeypatch.setenv("PAKLOG_CARRIER_WEBHOOK_URL", "http://gateway:8000/api/webhooks/carriers/")
    settings = CarriersSettings(environment="test", state_dir=tmp_path)
    token = settings.service_token.get_secret_value()
    assert settings.carrier_webhook_url == "http://gateway:8000/api/webhooks/carriers"
    assert settings.webhook_secrets() == {"SWIFT": "s" * 40, "PARCELNET": carrier_secret(token, "PARCELNET", None)}
    for bad in ({"swift": "s" * 40}, {"SWIFT": "short"}):
        monkeypatch.setenv("PAKLOG_CARRIER_SECRETS", json.dumps(bad))
        with pytest.raises(ValidationError):
            CarriersSettings(environment="test", state_dir=tmp_path)
    monkeypatch.delenv("PAKLOG_CARRIER_SECRETS")
    monkeypatch.setenv("PAKLOG_CARRIER_WEBHOOK_URL", "ftp://gateway")
    with pytest.raises(ValidationError):
        CarriersSettings(environment="test", state_dir=tmp_path)


def test_main_reads_the_webhook_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr("services.carriers.app.uvicorn.run", lambda app, **options: seen.update(app=app))
    url = "http://127.0.0.1:8000/api/webhooks/carriers"
    main(["--state-dir", str(tmp_path), "--webhook-url", url + "/"])
    assert seen["app"].state.settings.carrier_webhook_url == url
    with pytest.raises(SystemExit):
        main(["--state-dir", str(tmp_path), "--webhook-url", "gateway"])


def test_backoff_doubles_from_half_a_second_up_to_thirty() -> None:
    assert [retry_delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert retry_delay(10_000) == 30
