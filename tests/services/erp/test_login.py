"""The ERP stand-in logs in to post its events: a client-credentials token, cached, renewed after a 401;
without a token its events wait (pending), never rejected."""

from __future__ import annotations

import base64
from typing import Any

from common.partners import erp_client_secret
from common.settings import ServiceCredential
from tests.services.erp.helpers import change, events, eventually, stand_in
from tests.services.erp.receiver import Post, receiver
from tests.services.erp.test_events import make_changes, settled


def basic(header: str | None) -> tuple[str, str]:
    assert header is not None
    assert header.startswith("Basic ")
    client_id, _, secret = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    return client_id, secret


async def test_events_carry_the_erps_token_fetched_once(database: str) -> None:
    async with receiver() as hook, stand_in(database, webhook_url=hook.url, token_url=hook.token_url) as (client, _):
        await make_changes(client)
        await settled(client, 3)
    [(authorization, form)] = hook.token_requests
    derived = erp_client_secret(ServiceCredential().service_token.get_secret_value(), None)
    assert basic(authorization) == ("erp", derived)
    assert form == {"grant_type": "client_credentials"}
    assert [p.authorization for p in hook.posts] == ["Bearer token-1"] * 3


async def test_a_401_fetches_a_new_token_and_posts_once_more(database: str) -> None:
    def refuse_the_first_token(post: Post, earlier: int) -> tuple[int, str]:
        if post.authorization == "Bearer token-1":
            return 401, '{"type":"TokenExpired","detail":"token has expired"}'
        return 200, "{}"

    async with (
        receiver(refuse_the_first_token) as hook,
        stand_in(database, webhook_url=hook.url, token_url=hook.token_url) as (client, _),
    ):
        await make_changes(client)
        recorded = await settled(client, 3)
    assert [(e["status"], e["attempts"]) for e in recorded] == [("delivered", 1)] * 3
    assert len(hook.token_requests) == 2
    assert [p.authorization for p in hook.posts] == ["Bearer token-1"] + ["Bearer token-2"] * 3


async def test_without_a_token_events_wait_and_are_posted_once_one_is_had(database: str) -> None:
    async with receiver() as hook, stand_in(database, webhook_url=hook.url, token_url=hook.token_url) as (client, _):
        hook.token_status = 401  # the client refused (its secret not seeded yet, say)
        await make_changes(client)

        async def tried() -> list[dict[str, Any]] | None:
            found = await events(client)
            return found if found[0]["attempts"] >= 2 else None

        waiting = await eventually(tried, "two attempts without a token")
        assert [e["status"] for e in waiting] == ["pending"] * 3
        assert waiting[0]["answer"].startswith("no token: the token endpoint answered 401")
        assert hook.posts == []
        hook.token_status = 200
        recorded = await settled(client, 3)
    assert [e["status"] for e in recorded] == ["delivered"] * 3


async def test_a_token_the_webhook_keeps_refusing_is_retried_not_rejected(database: str) -> None:
    def refuse_everyone(post: Post, earlier: int) -> tuple[int, str]:
        return 401, '{"type":"InvalidSignature","detail":"the webhook signature does not verify"}'

    async with (
        receiver(refuse_everyone) as hook,
        stand_in(database, webhook_url=hook.url, token_url=hook.token_url) as (client, _),
    ):
        await change(client, "Materials", "MUG-RED", {"Price": "12.50"})

        async def retried() -> list[dict[str, Any]] | None:
            found = await events(client)
            return found if found[0]["attempts"] >= 2 else None

        [event] = await eventually(retried, "the event to be retried")
    assert (event["status"], event["answer_status"]) == ("pending", 401)
    assert len(hook.posts) >= 4  # each attempt: the token it had, then a fresh one


async def test_without_a_token_url_no_authorization_is_sent(database: str) -> None:
    async with receiver() as hook, stand_in(database, webhook_url=hook.url) as (client, _):
        await change(client, "Materials", "MUG-RED", {"Price": "12.50"})
        await settled(client, 1)
    assert [p.authorization for p in hook.posts] == [None]
    assert hook.token_requests == []
