"""``paklog simulate``'s doors without a platform: the carrier's /control put back, logins renewed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.service_auth import SERVICE_TOKEN_HEADER
from paklog.settings import simulate_settings
from paklog.simulate import SimulationConfig, SimulationError
from paklog.simulate.carrier import CarrierControl
from paklog.simulate.gateway import LoginAuth

TOKEN = "t" * 40


class FakeStandIn:
    """The carrier stand-in's /control as docs/tracking.md describes it, recording every POST."""

    def __init__(self, *, refuse_journeys: bool = False) -> None:
        self.refuse_journeys = refuse_journeys
        self.settings = {
            carrier: {
                "carrier": carrier,
                "fail_rate": 0.0,
                "step_seconds": 2.0,
                "exception_rate": 0.0,
                "recovery_rate": 0.5,
            }
            for carrier in ("SWIFT", "PARCELNET")
        }
        self.settings["PARCELNET"]["fail_rate"] = 0.25
        self.posts: list[dict[str, Any]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get(SERVICE_TOKEN_HEADER) != TOKEN:
            return httpx.Response(401, json={"type": "MissingServiceCredential", "detail": "no"})
        if request.method == "GET":
            return httpx.Response(200, json=list(self.settings.values()))
        body = json.loads(request.content)
        self.posts.append(body)
        if self.refuse_journeys and "step_seconds" in body:
            return httpx.Response(422, json={"type": "ValidationError", "detail": "extra field"})
        for carrier in [body["carrier"]] if "carrier" in body else list(self.settings):
            self.settings[carrier].update({k: v for k, v in body.items() if k != "carrier"})
        return httpx.Response(200, json={})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url="http://tms", transport=httpx.MockTransport(self.handler), headers={SERVICE_TOKEN_HEADER: TOKEN}
        )


def config(**overrides: Any) -> SimulationConfig:
    return SimulationConfig(
        gateway_url="http://gw", carriers_url="http://tms", service_token=TOKEN, orders=1, **overrides
    )


async def test_the_run_sets_the_carriers_and_puts_back_what_was_there() -> None:
    stand_in = FakeStandIn()
    before = json.loads(json.dumps(stand_in.settings))
    async with stand_in.client() as http:
        control = CarrierControl(http)
        await control.apply(
            config(carrier_step_seconds=0.2, exception_rate=0.3, recovery_rate=0.9, carrier_failure_rate=0.1)
        )
        assert stand_in.posts[0] == {"step_seconds": 0.2, "exception_rate": 0.3, "recovery_rate": 0.9}
        assert {p["carrier"]: p["fail_rate"] for p in stand_in.posts[1:]} == {"SWIFT": 0.1, "PARCELNET": 0.1}
        assert all(s["step_seconds"] == 0.2 and s["fail_rate"] == 0.1 for s in stand_in.settings.values())
        await control.restore()
    assert stand_in.settings == before


async def test_without_a_failure_rate_the_carriers_faults_are_left_alone() -> None:
    stand_in = FakeStandIn()
    async with stand_in.client() as http:
        control = CarrierControl(http)
        await control.apply(config())
        await control.restore()
    assert all("fail_rate" not in p for p in stand_in.posts)
    assert stand_in.settings["PARCELNET"]["fail_rate"] == 0.25


async def test_a_stand_in_that_refuses_the_journey_settings_stops_the_run_before_it_starts() -> None:
    stand_in = FakeStandIn(refuse_journeys=True)
    async with stand_in.client() as http:
        control = CarrierControl(http)
        with pytest.raises(SimulationError, match="refused"):
            await control.apply(config(carrier_failure_rate=0.5))
        await control.restore()
    # Nothing was changed, so nothing is put back.
    assert stand_in.posts == [{"step_seconds": 0.5, "exception_rate": 0.0, "recovery_rate": 0.5}]


async def test_a_wrong_service_token_is_named() -> None:
    stand_in = FakeStandIn()
    async with httpx.AsyncClient(base_url="http://tms", transport=httpx.MockTransport(stand_in.handler)) as http:
        with pytest.raises(SimulationError, match="401"):
            await CarrierControl(http).apply(config())


class FakeGateway:
    """A gateway whose tokens can be revoked, to see the client sign in again."""

    def __init__(self) -> None:
        self.logins = 0
        self.valid: set[str] = set()

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/auth/token":
            if b"password=alice-pass" not in request.content:
                return httpx.Response(401, json={"type": "InvalidCredentials", "detail": "no"})
            self.logins += 1
            token = f"token-{self.logins}"
            self.valid = {token}
            return httpx.Response(200, json={"access_token": token, "token_type": "bearer"})
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in self.valid:
            return httpx.Response(401, json={"type": "TokenExpired", "detail": "expired"})
        return httpx.Response(200, json={"ok": True})


async def test_an_expired_token_is_renewed_and_the_request_sent_again() -> None:
    gateway = FakeGateway()
    auth = LoginAuth("http://gw", "alice", "alice-pass")
    async with httpx.AsyncClient(
        base_url="http://gw", auth=auth, transport=httpx.MockTransport(gateway.handler)
    ) as http:
        assert (await http.get("/api/products")).status_code == 200
        assert (await http.get("/api/products")).status_code == 200
        assert gateway.logins == 1
        gateway.valid.clear()  # the token expired
        assert (await http.get("/api/products")).status_code == 200
        assert gateway.logins == 2


async def test_a_refused_login_is_a_simulation_error() -> None:
    gateway = FakeGateway()
    auth = LoginAuth("http://gw", "alice", "wrong")
    async with httpx.AsyncClient(
        base_url="http://gw", auth=auth, transport=httpx.MockTransport(gateway.handler)
    ) as http:
        with pytest.raises(SimulationError, match="login as alice refused"):
            await http.get("/api/products")


def test_the_command_finds_the_platform_and_its_saved_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "service.token").write_text("saved-token-" + "x" * 30 + "\n")
    monkeypatch.setenv("PAKLOG_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("PAKLOG_GATEWAY_URL", "http://gw.example:8000")
    monkeypatch.delenv("PAKLOG_CARRIERS_URL", raising=False)
    monkeypatch.delenv("PAKLOG_SERVICE_TOKEN", raising=False)
    settings = simulate_settings()
    assert (settings.gateway_url, settings.carriers_url) == ("http://gw.example:8000", "http://127.0.0.1:8190")
    assert settings.service_token.get_secret_value() == "saved-token-" + "x" * 30
    # A token given in the environment wins over the saved one.
    monkeypatch.setenv("PAKLOG_SERVICE_TOKEN", "env-token-" + "y" * 30)
    assert simulate_settings().service_token.get_secret_value() == "env-token-" + "y" * 30
