"""The ERP stand-in's outbox: events posted signed, in order, retried, rejected, resumed after a restart.

Each test runs the stand-in with its lifespan (the sender) against a real
receiving server; it waits with deadlines, never asserting how fast
anything went.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from common.settings import ServiceCredential
from common.webhooks import erp_secret, verify
from services.erp.sender import retry_delay
from tests.services.erp.helpers import change, events, eventually, sales_order, stand_in
from tests.services.erp.receiver import Post, receiver


async def settled(client: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    """The outbox once it holds ``count`` events and none is pending."""

    async def probe() -> list[dict[str, Any]] | None:
        found = await events(client)
        return found if len(found) == count and all(e["status"] != "pending" for e in found) else None

    return await eventually(probe, f"{count} events to settle")


async def make_changes(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Three changes of three kinds; their entities as answered."""
    return [
        await change(client, "Materials", "MUG-RED", {"Price": "12.50"}),
        await change(client, "MaterialStock", "MUG-RED", {"UnrestrictedStock": 90}),
        await change(client, "Customers", "0000100001", {"CityName": "Bremen"}),
    ]


async def test_every_change_is_posted_signed_in_order(database: str) -> None:
    async with receiver() as hook, stand_in(database, webhook_url=hook.url) as (client, _):
        changed = await make_changes(client)
        created = (await client.post("/odata/SalesOrders", json=sales_order("order-e"))).json()
        # Creating the order tells nobody (its creator has the answer); a status change made in the ERP does.
        created = await change(client, "SalesOrders", created["SalesOrder"], {"OverallStatus": "CREDIT_HOLD"})
        recorded = await settled(client, 4)

    assert [(e["type"], e["object_id"], e["status"], e["attempts"]) for e in recorded] == [
        ("MaterialChanged", "MUG-RED", "delivered", 1),
        ("StockChanged", "MUG-RED", "delivered", 1),
        ("CustomerChanged", "0000100001", "delivered", 1),
        ("SalesOrderStatusChanged", created["SalesOrder"], "delivered", 1),
    ]
    assert [p.event["event_id"] for p in hook.posts] == [e["event_id"] for e in recorded]
    secret = erp_secret(ServiceCredential().service_token.get_secret_value(), None)
    for post, entity in zip(hook.posts, [*changed, created], strict=True):
        assert verify(secret, post.body, post.signature)
        assert post.event == {
            "event_id": post.event["event_id"],
            "type": post.event["type"],
            "object_id": post.event["object_id"],
            "occurred_at": entity["LastChangedAt"],
            "data": entity,
        }
    stamps = [p.event["occurred_at"] for p in hook.posts]
    assert stamps == sorted(stamps)
    assert recorded[0]["answer_status"] == 200
    assert recorded[0]["finished_at"] is not None


async def test_a_configured_secret_signs_and_no_webhook_keeps_events_pending(database: str) -> None:
    async with stand_in(database) as (client, _):
        await make_changes(client)
        state = (await client.get("/control")).json()
        assert (state["webhook_url"], state["outbox"]) == (None, {"pending": 3, "delivered": 0, "rejected": 0})
        assert [e["status"] for e in await events(client, status="pending")] == ["pending"] * 3
        assert await events(client, status="delivered") == []
        only = await events(client, object_id="0000100001")
        assert [e["type"] for e in only] == ["CustomerChanged"]


async def test_a_5xx_or_an_unreachable_webhook_is_retried_until_acknowledged(database: str) -> None:
    def down_twice(post: Post, earlier: int) -> tuple[int, str]:
        return (503, '{"type":"Unavailable"}') if earlier < 2 else (200, "{}")

    async with receiver(down_twice) as hook, stand_in(database, webhook_url=hook.url) as (client, _):
        await make_changes(client)
        recorded = await settled(client, 3)
    assert [(e["status"], e["attempts"], e["answer_status"]) for e in recorded] == [("delivered", 3, 200)] * 3
    # Nothing overtakes an event that is being retried: acknowledged in occurred_at order.
    assert hook.acknowledged() == [e["event_id"] for e in recorded]
    assert [retry_delay(n) for n in (1, 2, 3, 10, 20)] == [0.5, 1.0, 2.0, 30.0, 30.0]


async def test_a_4xx_rejects_an_event_for_good_and_the_rest_go_on(database: str) -> None:
    def refuse_stock(post: Post, earlier: int) -> tuple[int, str]:
        if post.event["type"] == "StockChanged":
            return 422, '{"type":"ValidationError","detail":"no such SKU"}'
        return 200, "{}"

    async with receiver(refuse_stock) as hook, stand_in(database, webhook_url=hook.url) as (client, _):
        await make_changes(client)
        recorded = await settled(client, 3)
        rejected = await events(client, status="rejected")
        state = (await client.get("/control")).json()
    assert [e["status"] for e in recorded] == ["delivered", "rejected", "delivered"]
    [stock] = rejected
    assert (stock["type"], stock["attempts"], stock["answer_status"]) == ("StockChanged", 1, 422)
    assert stock["answer"] == '{"type":"ValidationError","detail":"no such SKU"}'
    assert len(hook.posts) == 3  # never posted again
    assert state["outbox"] == {"pending": 0, "delivered": 2, "rejected": 1}


async def test_pending_events_are_posted_after_a_restart(database: str) -> None:
    async with receiver() as hook:
        # The gateway is not there yet: the stand-in runs without a webhook, then with one that is down.
        async with stand_in(database) as (client, _):
            first = await make_changes(client)
        async with stand_in(database, webhook_url="http://127.0.0.1:9/api/webhooks/erp") as (client, _):

            async def tried() -> bool:
                attempts: int = (await events(client))[0]["attempts"]
                return attempts >= 1

            await eventually(tried, "the first attempt to fail")
            pending = await events(client)
            assert [e["status"] for e in pending] == ["pending"] * 3
            # The later ones wait behind the first: the order holds.
            assert [e["attempts"] for e in pending[1:]] == [0, 0]
            assert pending[0]["answer_status"] is None
            assert "127.0.0.1:9" in pending[0]["answer"]
            assert pending[0]["next_attempt_at"] is not None
            assert pending[1]["next_attempt_at"] is None
        async with stand_in(database, webhook_url=hook.url) as (client, _):
            recorded = await settled(client, 3)
    assert [e["status"] for e in recorded] == ["delivered"] * 3
    assert [p.event["data"] for p in hook.posts] == first


async def test_duplicate_rate_posts_an_event_twice(database: str) -> None:
    async with receiver() as hook, stand_in(database, webhook_url=hook.url, duplicate_rate=1) as (client, _):
        await make_changes(client)
        recorded = await settled(client, 3)
    assert all(e["duplicated"] for e in recorded)
    ids = [e["event_id"] for e in recorded]
    assert [p.event["event_id"] for p in hook.posts] == [i for i in ids for _ in range(2)]
    assert hook.posts[0].body == hook.posts[1].body


@pytest.mark.parametrize("reorder", [True, False])
async def test_reorder_posts_newest_first_within_a_batch(database: str, reorder: bool) -> None:
    gateway_up = False

    def until_up(post: Post, earlier: int) -> tuple[int, str]:
        return (200, "{}") if gateway_up else (503, "{}")

    async with receiver(until_up) as hook, stand_in(database, webhook_url=hook.url, reorder=reorder) as (client, _):
        await make_changes(client)

        async def waiting() -> bool:
            # The three are in one batch now: the last post tried was the batch's first in posting order.
            return bool(hook.posts) and hook.posts[-1].event["object_id"] == ("0000100001" if reorder else "MUG-RED")

        await eventually(waiting, "a failed batch of three")
        gateway_up = True
        recorded = await settled(client, 3)
    posted = [e["event_id"] for e in recorded]
    assert hook.acknowledged() == (posted[::-1] if reorder else posted)
