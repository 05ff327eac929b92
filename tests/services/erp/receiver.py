"""A real webhook endpoint for the ERP stand-in's events: an aiohttp server on a free loopback port.

It records every post (raw bytes, signature and ``Authorization`` headers) and
answers what the test's ``answer`` function says (200 by default), so tests
can play a gateway that is down, refuses an event or acknowledges it. It also
plays PakLog's token endpoint (``TOKEN_PATH``): each client-credentials
request is recorded and answered a new token ``token-<n>`` (or ``token_status``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from common.webhooks import SIGNATURE_HEADER
from tests.support import free_port

PATH = "/api/webhooks/erp"
TOKEN_PATH = "/api/auth/token"


@dataclass(frozen=True)
class Post:
    """One request the receiver got."""

    body: bytes
    signature: str | None
    authorization: str | None = None

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


#: ``answer(post, earlier_posts_of_the_same_bytes)`` → (status, text).
Answer = Callable[[Post, int], tuple[int, str]]


def acknowledge(post: Post, earlier: int) -> tuple[int, str]:
    return 200, json.dumps({"event_id": post.event["event_id"], "result": "applied"})


@dataclass
class Receiver:
    url: str
    answer: Answer = acknowledge
    posts: list[Post] = field(default_factory=list)
    #: (event_id, status answered) in the order answered.
    answered: list[tuple[str, int]] = field(default_factory=list)
    #: The token endpoint: each request's (Authorization header, form), what it answers, tokens' lifetime.
    token_requests: list[tuple[str | None, dict[str, str]]] = field(default_factory=list)
    token_status: int = 200
    expires_in: int = 3600

    @property
    def token_url(self) -> str:
        return self.url.removesuffix(PATH) + TOKEN_PATH

    def acknowledged(self) -> list[str]:
        """The event ids answered 2xx, in the order answered (a duplicate post counts again)."""
        return [event_id for event_id, status in self.answered if 200 <= status < 300]


@asynccontextmanager
async def receiver(answer: Answer = acknowledge) -> AsyncIterator[Receiver]:
    """Serve the webhook on a free port until the block ends; ``Receiver.url`` is its URL."""
    port = free_port()
    got = Receiver(url=f"http://127.0.0.1:{port}{PATH}", answer=answer)

    async def handle(request: web.Request) -> web.Response:
        post = Post(await request.read(), request.headers.get(SIGNATURE_HEADER), request.headers.get("Authorization"))
        earlier = sum(1 for p in got.posts if p.body == post.body)
        got.posts.append(post)
        status, text = got.answer(post, earlier)
        got.answered.append((post.event["event_id"], status))
        return web.Response(status=status, text=text, content_type="application/json")

    async def token(request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        got.token_requests.append((request.headers.get("Authorization"), form))
        if got.token_status != 200:
            return web.Response(status=got.token_status, text='{"type":"InvalidClient","detail":"no"}')
        body = {
            "access_token": f"token-{len(got.token_requests)}",
            "token_type": "bearer",
            "expires_in": got.expires_in,
        }
        return web.Response(text=json.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_post(PATH, handle)
    app.router.add_post(TOKEN_PATH, token)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield got
    finally:
        await runner.cleanup()
