"""Notifications: the tracking_update template (one message per subscriber and carrier event)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from common.settings import ServiceSettings
from services.notifications.app import create_app
from services.notifications.models import Channel
from tests.conftest import ServiceDatabases
from tests.services.notifications.test_notifications import RecordingSender
from tests.support import rolled_back_client


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["notifications"]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(create_app, "notifications", database_url) as (client, _):
        yield client


def tracking(**context: Any) -> dict[str, Any]:
    """A ``tracking_update`` e-mail with the workflow's context; ``context`` overrides its values."""
    return {
        "channel": "email",
        "recipient": "alice@example.com",
        "template": "tracking_update",
        "order_id": "o-1",
        "context": {
            "tracking_code": "SW123456789012",
            "title": "Order o-1",
            "status": "IN_TRANSIT",
            "occurred_at": "2026-12-10T15:03:00+01:00",
            "reason": None,
            "location": "Hamburg hub",
            "carrier": "SWIFT",
            **context,
        },
    }


async def send(client: httpx.AsyncClient, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    resp = await client.post("/messages", json=body, headers=headers)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


@pytest.mark.parametrize(
    ("status", "reason", "subject"),
    [
        ("IN_TRANSIT", None, "Order o-1: in transit"),
        ("OUT_FOR_DELIVERY", None, "Order o-1: out for delivery"),
        ("DELIVERED", None, "Order o-1: delivered"),
        ("EXCEPTION", "RECIPIENT_ABSENT", "Order o-1: delivery problem: nobody was there to take the parcel"),
        ("EXCEPTION", "ADDRESS_NOT_FOUND", "Order o-1: delivery problem: the address could not be found"),
        ("EXCEPTION", "DAMAGED", "Order o-1: delivery problem: the parcel was damaged"),
        ("EXCEPTION", "REFUSED", "Order o-1: delivery problem: the parcel was refused"),
        ("EXCEPTION", "STRUCK_BY_LIGHTNING", "Order o-1: delivery problem: struck by lightning"),
        ("EXCEPTION", None, "Order o-1: delivery problem"),
    ],
)
async def test_the_subject_names_the_status_in_words(
    client: httpx.AsyncClient, status: str, reason: str | None, subject: str
) -> None:
    message = await send(client, tracking(status=status, reason=reason))
    assert message["subject"] == subject
    assert message["template"] == "tracking_update"
    assert message["status"] == "SENT"
    # The body says it too, whole sentences and no gaps.
    assert f"news about {subject}." in message["body"]
    assert "{" not in message["body"]


async def test_the_body_has_the_code_the_carrier_the_time_and_the_place(client: httpx.AsyncClient) -> None:
    message = await send(client, tracking(status="OUT_FOR_DELIVERY"))
    body = message["body"]
    assert "Tracking code SW123456789012 (SWIFT)." in body
    # In UTC, whatever offset the carrier used.
    assert "Last update: 2026-12-10 14:03 UTC, Hamburg hub." in body
    assert body.startswith("Dear customer,")


async def test_no_location_leaves_no_gap(client: httpx.AsyncClient) -> None:
    body = (await send(client, tracking(location=None)))["body"]
    assert "Last update: 2026-12-10 14:03 UTC.\n" in body
    assert "None" not in body


async def test_a_time_without_offset_is_shown_as_given(client: httpx.AsyncClient) -> None:
    body = (await send(client, tracking(occurred_at="2026-12-10T15:03:00")))["body"]
    assert "Last update: 2026-12-10T15:03:00, Hamburg hub." in body


async def test_a_title_cannot_break_the_subject_header(client: httpx.AsyncClient) -> None:
    message = await send(client, tracking(title="Order o-1\r\nBcc: victim@example.com"))
    assert "\n" not in message["subject"]
    assert "\r" not in message["subject"]


async def test_the_callers_name_and_push_channel(client: httpx.AsyncClient) -> None:
    body = tracking(name="Alice", status="DELIVERED")
    body.update(channel="push", recipient="alice")
    message = await send(client, body)
    assert (message["channel"], message["subject"]) == ("push", "Order o-1: delivered")
    assert message["body"].startswith("Dear Alice,")


async def test_one_message_per_event_and_subscriber_key(database_url: str) -> None:
    recorder = RecordingSender()

    def recording_app(settings: ServiceSettings) -> FastAPI:
        app = create_app(settings)
        app.state.senders = {Channel.EMAIL: recorder, Channel.PUSH: recorder}
        return app

    async with rolled_back_client(recording_app, "notifications", database_url) as (client, _):
        event_id = f"SWIFT-SW123456789012-{uuid.uuid4().hex[:6]}"
        for username in ("alice", "bob"):
            key = {"Idempotency-Key": f"track:{event_id}:{username}"}
            first = await send(client, tracking(status="DELIVERED"), **key)
            again = await client.post("/messages", json=tracking(status="DELIVERED"), headers=key)
            assert (again.status_code, again.json()) == (201, first)
            assert again.headers["Idempotent-Replayed"] == "true"
        assert [m.subject for m in recorder.sent] == ["Order o-1: delivered"] * 2
