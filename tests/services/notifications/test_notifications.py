from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from structlog.testing import capture_logs

from common.settings import ServiceSettings
from services.notifications.app import create_app
from services.notifications.models import Channel
from services.notifications.senders import LogSender, Outgoing, SmtpSender
from services.notifications.settings import NotificationsSettings
from tests.conftest import FreshDatabase, ServiceDatabases
from tests.services.notifications.smtp_server import running_smtp_server
from tests.support import committing_client, rolled_back_client


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def send(self, message: Outgoing) -> None:
        self.sent.append(message)


class BlockingSender:
    """Delivers only once ``parties`` messages are being delivered at the same time."""

    def __init__(self, parties: int) -> None:
        self.barrier = asyncio.Barrier(parties)
        self.sent: list[Outgoing] = []

    async def send(self, message: Outgoing) -> None:
        async with asyncio.timeout(5):
            await self.barrier.wait()
        self.sent.append(message)


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["notifications"]


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with rolled_back_client(create_app, "notifications", database_url) as (client, _):
        yield client


def app_with(**settings: Any) -> Callable[[ServiceSettings], FastAPI]:
    """``create_app`` with extra notifications settings (SMTP) on top of the test's."""

    def make(base: ServiceSettings) -> FastAPI:
        return create_app(NotificationsSettings(**{**base.model_dump(), **settings}))

    return make


def order_id() -> str:
    return uuid.uuid4().hex[:16]


def confirmed(oid: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "email",
        "recipient": f"{oid}@example.com",
        "template": "order_confirmed",
        "order_id": oid,
        "context": {"order_id": oid, "total_cents": 3700, "currency": "EUR", "name": "Alice"},
    }
    body.update(overrides)
    return body


async def test_message_is_rendered_stored_and_listed(client: httpx.AsyncClient) -> None:
    oid = order_id()
    resp = await client.post("/messages", json=confirmed(oid))
    assert resp.status_code == 201, resp.text
    message = resp.json()
    assert set(message) == {
        "id",
        "channel",
        "recipient",
        "template",
        "order_id",
        "subject",
        "body",
        "status",
        "error",
        "created_at",
    }
    assert message["status"] == "SENT"
    assert message["error"] is None
    assert message["subject"] == f"Your PakLog order {oid} is confirmed"
    assert "Dear Alice," in message["body"]
    assert "37.00 EUR" in message["body"]

    assert (await client.get("/messages", params={"order_id": oid})).json() == [message]
    assert (await client.get(f"/messages/{message['id']}")).json() == message


async def test_cancellation_explains_the_reason(client: httpx.AsyncClient) -> None:
    oid = order_id()
    body = confirmed(oid, template="order_cancelled", context={"order_id": oid, "reason": "PAYMENT_DECLINED"})
    message = (await client.post("/messages", json=body)).json()
    assert message["subject"] == f"Your PakLog order {oid} was cancelled"
    assert "cancelled because the payment was declined." in message["body"]


async def test_list_filters_and_puts_newest_first(client: httpx.AsyncClient) -> None:
    oid, other = order_id(), order_id()
    recipient = f"{oid}@example.com"
    first = (await client.post("/messages", json=confirmed(oid))).json()
    second = (
        await client.post(
            "/messages", json=confirmed(oid, template="order_cancelled", context={"reason": "OUT_OF_STOCK"})
        )
    ).json()
    await client.post("/messages", json=confirmed(other))

    by_recipient = (await client.get("/messages", params={"recipient": recipient})).json()
    assert [m["id"] for m in by_recipient] == [second["id"], first["id"]]
    limited = (await client.get("/messages", params={"recipient": recipient, "limit": 1})).json()
    assert [m["id"] for m in limited] == [second["id"]]
    assert (await client.get("/messages", params={"order_id": other, "recipient": recipient})).json() == []


async def test_missing_context_keys_do_not_fail_the_message(client: httpx.AsyncClient) -> None:
    resp = await client.post("/messages", json=confirmed(order_id(), context={}))
    assert resp.status_code == 201
    message = resp.json()
    assert message["status"] == "SENT"
    assert message["subject"] == "Your PakLog order {order_id} is confirmed"
    assert "Dear customer," in message["body"]


async def test_unknown_template_is_422_and_stores_nothing(client: httpx.AsyncClient) -> None:
    oid = order_id()
    resp = await client.post("/messages", json=confirmed(oid, template="order_teleported"))
    assert resp.status_code == 422
    assert resp.json()["type"] == "UnknownTemplate"
    assert set(resp.json()) == {"type", "detail"}
    assert (await client.get("/messages", params={"order_id": oid})).json() == []


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"channel": "sms"}, id="channel"),
        pytest.param({"recipient": "not-an-address"}, id="email-recipient"),
        pytest.param({"recipient": ""}, id="empty-recipient"),
        pytest.param({"order_id": "x" * 65}, id="long-order-id"),
        pytest.param({"context": ["not", "a", "mapping"]}, id="context"),
        pytest.param({"priority": "high"}, id="extra-field"),
    ],
)
async def test_bad_input_is_422(client: httpx.AsyncClient, overrides: dict[str, Any]) -> None:
    resp = await client.post("/messages", json=confirmed(order_id(), **overrides))
    assert resp.status_code == 422
    assert resp.json()["type"] == "ValidationError"
    assert set(resp.json()) == {"type", "detail"}


async def test_unknown_message_is_404(client: httpx.AsyncClient) -> None:
    resp = await client.get("/messages/nope")
    assert resp.status_code == 404
    assert resp.json()["type"] == "MessageNotFound"


async def test_repeat_with_idempotency_key_sends_once(database_url: str) -> None:
    recorder = RecordingSender()

    def recording_app(settings: ServiceSettings) -> FastAPI:
        app = create_app(settings)
        app.state.senders = {Channel.EMAIL: recorder, Channel.PUSH: recorder}
        return app

    async with rolled_back_client(recording_app, "notifications", database_url) as (client, _):
        oid = order_id()
        headers = {"Idempotency-Key": f"order-{oid}:notify-confirmed"}
        first = await client.post("/messages", json=confirmed(oid), headers=headers)
        second = await client.post("/messages", json=confirmed(oid), headers=headers)
        assert first.status_code == second.status_code == 201
        assert second.json() == first.json()
        assert second.headers["Idempotent-Replayed"] == "true"
        assert len(recorder.sent) == 1
        assert len((await client.get("/messages", params={"order_id": oid})).json()) == 1

        reused = await client.post("/messages", json=confirmed(order_id()), headers=headers)
        assert reused.status_code == 409
        assert reused.json()["type"] == "IdempotencyKeyReused"
        assert len(recorder.sent) == 1


async def test_email_goes_out_over_smtp(database_url: str) -> None:
    async with running_smtp_server() as smtp:
        app = app_with(smtp_host=smtp.host, smtp_port=smtp.port, smtp_starttls=False, smtp_from="shop@paklog.test")
        async with rolled_back_client(app, "notifications", database_url) as (client, _):
            oid = order_id()
            resp = await client.post("/messages", json=confirmed(oid))
            push = await client.post("/messages", json=confirmed(oid, channel="push", recipient="device-1"))

    assert resp.json()["status"] == "SENT"
    assert push.json()["status"] == "SENT"
    (envelope,) = smtp.received  # push never reaches the mail server
    assert envelope.mail_from == "shop@paklog.test"
    assert envelope.rcpt_to == [f"{oid}@example.com"]
    email = envelope.message()
    assert email["Subject"] == f"Your PakLog order {oid} is confirmed"
    assert email["To"] == f"{oid}@example.com"
    assert resp.json()["id"] in email["Message-ID"]
    assert "37.00 EUR" in email.get_content()


async def test_failed_email_is_retryable_and_the_retry_sends_it(database_url: str) -> None:
    async with running_smtp_server() as smtp:
        port = smtp.port  # closed again below: the mail server is down
    app = app_with(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False, smtp_timeout_seconds=2)
    async with rolled_back_client(app, "notifications", database_url) as (client, _):
        oid = order_id()
        headers = {"Idempotency-Key": f"order-{oid}:notify:order_confirmed"}
        failed = await client.post("/messages", json=confirmed(oid), headers=headers)
        assert failed.status_code == 503
        assert failed.json()["type"] == "DeliveryFailed"
        (attempt,) = (await client.get("/messages", params={"order_id": oid})).json()
        assert attempt["status"] == "FAILED"
        assert "ConnectionRefusedError" in attempt["error"]

        async with running_smtp_server(port=port) as smtp:
            sent = await client.post("/messages", json=confirmed(oid), headers=headers)
            replay = await client.post("/messages", json=confirmed(oid), headers=headers)
        assert sent.status_code == 201
        assert "Idempotent-Replayed" not in sent.headers  # the failure was not stored as the answer
        assert (sent.json()["id"], sent.json()["status"], sent.json()["error"]) == (attempt["id"], "SENT", None)
        assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (201, "true")
        assert replay.json() == sent.json()
        assert len(smtp.received) == 1
        assert (await client.get("/messages", params={"order_id": oid})).json() == [sent.json()]


async def test_senders_are_called_with_no_connection_held(fresh_database: FreshDatabase) -> None:
    url = await fresh_database("notifications")
    gate = BlockingSender(parties=3)

    def blocking_app(settings: ServiceSettings) -> FastAPI:
        app = create_app(settings)
        app.state.senders = {Channel.EMAIL: gate, Channel.PUSH: gate}
        return app

    # A pool of one (plus one overflow): three sends waiting on the mail server at once
    # only fit when none of them holds a connection while it waits.
    async with committing_client(blocking_app, "notifications", url, pool_size=1) as client:
        oid = order_id()
        results = await asyncio.gather(
            *(
                client.post("/messages", json=confirmed(oid), headers={"Idempotency-Key": f"order-{oid}:n{i}"})
                for i in range(3)
            )
        )
    assert [r.status_code for r in results] == [201] * 3
    assert len(gate.sent) == 3


async def test_smtp_sender_logs_in_and_dot_stuffs() -> None:
    async with running_smtp_server(advertise_auth=True) as smtp:
        sender = SmtpSender(
            host=smtp.host, port=smtp.port, sender="shop@paklog.test", starttls=False, username="u", password="p"
        )
        body = "line one\n.leading dot\n..two dots\n.\nlast"
        await sender.send(Outgoing("m-1", Channel.EMAIL, "bob@example.com", "Grüße aus dem Lager", body))

    (envelope,) = smtp.received
    assert envelope.login == ("u", "p")
    email = envelope.message()
    assert email["Subject"] == "Grüße aus dem Lager"
    assert email.get_content().rstrip("\n") == body
    assert smtp.commands[-1] == "QUIT"


async def test_smtp_sender_never_falls_back_to_plaintext() -> None:
    async with running_smtp_server() as smtp:
        sender = SmtpSender(host=smtp.host, port=smtp.port, sender="shop@paklog.test", starttls=True)
        with pytest.raises(Exception, match="STARTTLS"):
            await sender.send(Outgoing("m-2", Channel.EMAIL, "bob@example.com", "Hello", "secret"))
    assert smtp.received == []


async def test_log_sender_writes_one_line() -> None:
    with capture_logs() as logs:
        await LogSender().send(Outgoing("m-3", Channel.PUSH, "device-9", "Shipped", "Your parcel is on its way"))
    assert logs == [
        {
            "event": "notification_sent",
            "log_level": "info",
            "message_id": "m-3",
            "channel": Channel.PUSH,
            "recipient": "device-9",
            "subject": "Shipped",
            "body": "Your parcel is on its way",
        }
    ]
