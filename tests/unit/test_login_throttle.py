"""Login throttling: failed logins per username, attempts per address, 429 with Retry-After."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from common.errors import TooManyRequests
from gateway.app import create_app
from gateway.settings import GatewaySettings
from gateway.throttle import LoginThrottle


def throttle(failures: str = "10/minute", attempts: str = "60/minute") -> LoginThrottle:
    return LoginThrottle(failures_per_username=failures, attempts_per_address=attempts)


async def test_failed_logins_lock_that_username_only() -> None:
    limits = throttle()
    for _ in range(10):
        await limits.admit("mallory-target", "10.0.0.1")
        await limits.failed("mallory-target")
    with pytest.raises(TooManyRequests) as caught:
        await limits.admit("mallory-target", "10.0.0.2")  # another address does not help
    assert caught.value.type == "RateLimited"
    assert 1 <= caught.value.retry_after_seconds <= 60
    with pytest.raises(TooManyRequests):
        await limits.admit("  MALLORY-Target ", "10.0.0.3")  # nor another spelling
    await limits.admit("alice", "10.0.0.1")


async def test_successful_logins_are_never_counted_per_username() -> None:
    limits = throttle(failures="2/minute", attempts="1000/minute")
    for _ in range(50):
        await limits.admit("alice", "10.0.0.1")


async def test_attempts_per_address_count_every_login() -> None:
    limits = throttle(attempts="5/minute")
    for i in range(5):
        await limits.admit(f"user{i}", "10.0.0.9")
    with pytest.raises(TooManyRequests) as caught:
        await limits.admit("someone-new", "10.0.0.9")
    assert 1 <= caught.value.retry_after_seconds <= 60
    await limits.admit("someone-new", "10.0.0.10")


def test_limits_are_settings_in_the_limits_notation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAKLOG_LOGIN_FAILURES_PER_USERNAME", "3/hour")
    settings = GatewaySettings()
    assert (settings.login_failures_per_username, settings.login_attempts_per_address) == ("3/hour", "60/minute")
    with pytest.raises(ValidationError):
        GatewaySettings(login_attempts_per_address="lots")


async def test_the_gateway_answers_429_with_retry_after_before_calling_identity() -> None:
    app = create_app(GatewaySettings(environment="test"))
    app.state.login_throttle = limits = throttle(failures="3/minute")
    for _ in range(3):
        await limits.failed("bob")
    # No lifespan ran: had the route gone on to identity, it would have failed on the missing clients.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        resp = await http.post("/api/auth/token", data={"username": "bob", "password": "guess"})
    assert resp.status_code == 429, resp.text
    assert resp.json() == {"type": "RateLimited", "detail": resp.json()["detail"]}
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    documented = app.openapi()["paths"]["/api/auth/token"]["post"]["responses"]["429"]
    assert "Retry-After" in documented["headers"]
