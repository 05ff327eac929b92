"""The ERP stand-in's token: cached until shortly before it expires, renewed then or after ``forget``."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

import httpx
import pytest

from services.erp.login import (
    DEFAULT_LIFETIME_SECONDS,
    RENEW_BEFORE_SECONDS,
    ClientToken,
    TokenUnavailable,
    basic_authorization,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def endpoint(expires_in: int | None = 3600, status: int = 200) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    requests: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        body: dict[str, object] = {"access_token": f"t{len(requests)}", "token_type": "bearer"}
        if expires_in is not None:
            body["expires_in"] = expires_in
        return httpx.Response(status, json=body if status == 200 else {"type": "InvalidClient", "detail": "no"})

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), requests


async def test_the_token_is_fetched_once_and_renewed_shortly_before_it_expires() -> None:
    http, requests = endpoint(expires_in=600)
    clock = Clock()
    token = ClientToken(http, "http://gw/api/auth/token", "erp", "s3cret+/=", clock=clock)
    assert await token.bearer() == "Bearer t1"
    clock.now += 600 - RENEW_BEFORE_SECONDS - 1
    assert await token.bearer() == "Bearer t1"
    clock.now += 1
    assert await token.bearer() == "Bearer t2"
    token.forget()
    assert await token.bearer() == "Bearer t3"
    assert token.fetched == 3
    first = requests[0]
    assert parse_qs(first.content.decode()) == {"grant_type": ["client_credentials"]}
    # RFC 6749 2.3.1: both parts form-encoded before Base64, so any secret survives the colon split.
    decoded = base64.b64decode(first.headers["Authorization"].removeprefix("Basic ")).decode()
    assert decoded == "erp:s3cret%2B%2F%3D"
    assert first.headers["Authorization"] == basic_authorization("erp", "s3cret+/=")


async def test_a_short_lived_token_is_renewed_at_half_its_lifetime() -> None:
    http, _ = endpoint(expires_in=20)
    clock = Clock()
    token = ClientToken(http, "http://gw/token", "erp", "s", clock=clock)
    assert await token.bearer() == "Bearer t1"
    clock.now += 9.9
    assert await token.bearer() == "Bearer t1"
    clock.now += 0.1
    assert await token.bearer() == "Bearer t2"


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda r: httpx.Response(401, json={"type": "InvalidClient"}), id="refused"),
        pytest.param(lambda r: httpx.Response(503, text="down"), id="down"),
        pytest.param(lambda r: httpx.Response(200, text="not json"), id="not-json"),
        pytest.param(lambda r: httpx.Response(200, json={"token_type": "bearer"}), id="no-token"),
        pytest.param(lambda r: httpx.Response(200, json={"access_token": "t", "expires_in": -5}), id="expired"),
    ],
)
async def test_no_usable_answer_is_token_unavailable(answer: object) -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))  # type: ignore[arg-type]
    with pytest.raises(TokenUnavailable):
        await ClientToken(http, "http://gw/token", "erp", "s").bearer()


async def test_an_unreachable_endpoint_is_token_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    with pytest.raises(TokenUnavailable, match="ConnectError"):
        await ClientToken(http, "http://gw/token", "erp", "s").bearer()


async def test_an_answer_without_expires_in_is_kept_the_default_lifetime() -> None:
    http, _ = endpoint(expires_in=None)
    clock = Clock()
    token = ClientToken(http, "http://gw/token", "erp", "s", clock=clock)
    assert await token.bearer() == "Bearer t1"
    clock.now += DEFAULT_LIFETIME_SECONDS - RENEW_BEFORE_SECONDS - 1
    assert await token.bearer() == "Bearer t1"
    clock.now += 1
    assert await token.bearer() == "Bearer t2"
