"""The gateway's front door: per-principal, per-route rate limits, CORS for the web app's origins only, and
the security headers on every answer (docs/front-door.md).

Orders are priced by the real inventory service (its own test database); a stand-in for Temporal records the
workflows the gateway starts, so a refused call is seen to have started nothing.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from common.security import TokenIssuer, TokenVerifier
from common.webhooks import SIGNATURE_HEADER
from gateway.app import create_app
from gateway.clients import ServiceClients
from gateway.settings import GatewaySettings
from services.inventory.app import create_app as inventory_app
from tests.conftest import ServiceDatabases
from tests.support import committing_client

SECRET = secrets.token_urlsafe(48)
WEB_DEV = "http://localhost:5173"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
API_HEADERS = {
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "cache-control": "no-store",
}


@dataclass
class FakeTemporal:
    """Records the workflows the gateway starts."""

    started: list[str] = field(default_factory=list)

    async def start_workflow(self, workflow: str, arg: Any, *, id: str, **_: Any) -> None:
        self.started.append(id)


@dataclass
class Door:
    http: httpx.AsyncClient
    temporal: FakeTemporal
    sku: str
    issuer: TokenIssuer = field(default_factory=lambda: TokenIssuer(secret=SECRET))

    def auth(self, username: str = "alice", role: str = "customer", scopes: list[str] | None = None) -> dict[str, str]:
        token = self.issuer.issue(
            username=username, user_id=f"u-{username}", role=role, email=f"{username}@example.com", name=username,
            scopes=scopes or (),
        )  # fmt: skip
        return {"Authorization": f"Bearer {token}"}

    def order(self) -> dict[str, Any]:
        return {
            "lines": [{"sku": self.sku, "quantity": 1}],
            "shipping_address": {
                "name": "Alice",
                "line1": "1 Main St",
                "city": "Berlin",
                "postal_code": "10115",
                "country": "DE",
            },
            "payment": {"card_token": "tok_visa"},
        }

    async def place(self, username: str = "alice") -> httpx.Response:
        return await self.http.post("/api/orders", json=self.order(), headers=self.auth(username))


@pytest.fixture
def inventory_url(service_databases: ServiceDatabases) -> str:
    return service_databases["inventory"]


@pytest.fixture
def make_door(inventory_url: str) -> Any:
    """A gateway with the given settings before the real inventory service (a fresh SKU with stock)."""

    async def make(**overrides: Any) -> AsyncIterator[Door]:
        async with committing_client(inventory_app, "inventory", inventory_url) as inventory:
            sku = f"FD-{uuid.uuid4().hex[:10].upper()}"
            resp = await inventory.put(
                f"/products/{sku}",
                json={"name": "Front door", "price_cents": 500, "on_hand": 1000},
                headers={"Idempotency-Key": f"put-{sku}"},
            )
            assert resp.status_code == 200, resp.text
            settings = GatewaySettings(
                jwt_secret=SECRET, inventory_url=str(inventory.base_url).rstrip("/"), **overrides
            )
            temporal = FakeTemporal()
            app = create_app(settings, temporal=temporal)  # type: ignore[arg-type]
            app.state.clients = ServiceClients(inventory, settings)
            app.state.verifier = TokenVerifier(secret=SECRET)
            app.state.temporal = temporal
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
                yield Door(http, temporal, sku)

    return make


@pytest.fixture
async def door(make_door: Any) -> AsyncIterator[Door]:
    async for door in make_door():
        yield door


@pytest.fixture
async def tight(make_door: Any) -> AsyncIterator[Door]:
    """Limits small enough to reach in a test."""
    async for door in make_door(
        rate_limit_writes="3/minute", rate_limit_reads="2/minute", rate_limit_webhooks="2/minute"
    ):
        yield door


def assert_rate_limited(resp: httpx.Response, window_seconds: int = 60) -> None:
    assert (resp.status_code, resp.json()["type"]) == (429, "RateLimited"), resp.text
    assert resp.headers["Retry-After"].isdigit()
    assert 1 <= int(resp.headers["Retry-After"]) <= window_seconds


# -- rate limits ---------------------------------------------------------------------------------
async def test_a_demo_user_placing_thirty_orders_at_once_passes_the_default_limits(door: Door) -> None:
    answers = await asyncio.gather(*(door.place() for _ in range(30)))
    assert [a.status_code for a in answers] == [202] * 30, [a.text for a in answers if a.status_code != 202]
    assert len(set(door.temporal.started)) == 30


async def test_over_the_write_limit_is_429_with_retry_after_and_starts_nothing(tight: Door) -> None:
    assert [(await tight.place()).status_code for _ in range(3)] == [202] * 3
    refused = await tight.place()
    assert_rate_limited(refused)
    assert "POST /api/orders" in refused.json()["detail"]
    assert len(tight.temporal.started) == 3  # the fourth order was refused before its workflow
    # Per principal: another customer is not held back by alice.
    assert (await tight.place("bob")).status_code == 202
    # Per route: alice still reads.
    assert (await tight.http.get(f"/api/products/{tight.sku}", headers=tight.auth())).status_code == 200


async def test_the_key_is_the_route_template_so_new_ids_make_no_new_keys(tight: Door) -> None:
    statuses = [
        (await tight.http.get(f"/api/products/{sku}", headers=tight.auth())).status_code
        for sku in (tight.sku, "NO-SUCH-1", "NO-SUCH-2")
    ]
    assert statuses[:2] == [200, 404]
    assert statuses[2] == 429


async def test_a_partner_is_limited_per_client(tight: Door) -> None:
    erp = tight.auth("erp", role="partner", scopes=["erp"])
    answers = [await tight.http.post("/api/webhooks/erp", content=b"{}", headers=erp) for _ in range(3)]
    # Unsigned: the route refuses them (401 InvalidSignature), after they were counted.
    assert [a.json()["type"] for a in answers[:2]] == ["InvalidSignature"] * 2
    assert_rate_limited(answers[2])
    # Another client of the same address is counted apart.
    other = tight.auth("tms", role="partner", scopes=["erp"])
    assert (await tight.http.post("/api/webhooks/erp", content=b"{}", headers=other)).json()[
        "type"
    ] == "InvalidSignature"


async def test_callers_without_a_valid_token_are_limited_per_address(tight: Door) -> None:
    forged = {"Authorization": "Bearer not-a-token"}
    statuses = [(await tight.http.get("/api/orders", headers=h)).status_code for h in ({}, forged, forged)]
    assert statuses == [401, 401, 429]
    # The signed carrier webhook takes no token: it is limited per address too.
    signed = {SIGNATURE_HEADER: "sha256=" + "0" * 64, "Content-Type": "application/json"}
    hooks = [await tight.http.post("/api/webhooks/carriers/SWIFT", content=b"{}", headers=signed) for _ in range(3)]
    assert [h.status_code for h in hooks[:2]] == [401, 401]
    assert_rate_limited(hooks[2])
    # And so are the credential doors (on top of their own login limits).
    logins = [await tight.http.post("/api/auth/token", data={"grant_type": "nope"}) for _ in range(4)]
    assert [r.status_code for r in logins] == [400, 400, 400, 429]


async def test_health_is_never_limited(make_door: Any) -> None:
    async for door in make_door(rate_limit_reads="1/minute"):
        assert [(await door.http.get("/healthz")).status_code for _ in range(5)] == [200] * 5


async def test_a_limit_of_zero_switches_it_off(make_door: Any) -> None:
    async for door in make_door(rate_limit_writes="0", rate_limit_reads=""):
        assert [(await door.place()).status_code for _ in range(5)] == [202] * 5
        assert [(await door.http.get("/api/orders", headers={})).status_code for _ in range(5)] == [401] * 5


@pytest.mark.parametrize("value", ["lots", "0/minute", "-1/minute", "10/fortnight"])
def test_a_malformed_limit_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="rate_limit_writes"):
        GatewaySettings(rate_limit_writes=value)


def test_every_operation_but_health_documents_its_429() -> None:
    document = create_app(GatewaySettings()).openapi()
    for template, item in document["paths"].items():
        for method, operation in item.items():
            documented = "429" in operation["responses"]
            assert documented == (template != "/healthz"), f"{method} {template}"
            if documented:
                assert "Retry-After" in operation["responses"]["429"]["headers"], f"{method} {template}"


# -- CORS ------------------------------------------------------------------------------------------
async def test_the_web_apps_origin_gets_cors_for_every_method_the_api_has(door: Door) -> None:
    preflight = await door.http.options(
        "/api/tracking/TRK1",
        headers={
            "Origin": WEB_DEV,
            "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "authorization,idempotency-key,x-request-id",
        },
    )
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == WEB_DEV
    assert {"GET", "POST", "PUT", "DELETE"} <= set(preflight.headers["access-control-allow-methods"].split(", "))
    assert "access-control-allow-credentials" not in preflight.headers
    simple = await door.http.get(f"/api/products/{door.sku}", headers={"Origin": WEB_DEV, **door.auth()})
    assert simple.status_code == 200
    assert simple.headers["access-control-allow-origin"] == WEB_DEV
    exposed = {h.strip().lower() for h in simple.headers["access-control-expose-headers"].split(",")}
    assert {"x-request-id", "retry-after"} <= exposed


async def test_a_foreign_origin_gets_no_cors_headers(door: Door) -> None:
    preflight = await door.http.options(
        "/api/orders", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    simple = await door.http.get(f"/api/products/{door.sku}", headers={"Origin": "https://evil.example", **door.auth()})
    assert simple.status_code == 200
    # Without Access-Control-Allow-Origin the browser lets the foreign page read nothing.
    assert "access-control-allow-origin" not in simple.headers


@pytest.mark.parametrize("origins", [["*"], ["https://*.example.com"], ["http://localhost:5173/"], ["localhost:5173"]])
def test_cors_origins_must_be_exact_origins(origins: list[str]) -> None:
    with pytest.raises(ValidationError, match="cors_origins"):
        GatewaySettings(cors_origins=origins)


def test_cors_origins_come_from_the_environment_as_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAKLOG_CORS_ORIGINS", json.dumps(["https://shop.example.com", "http://[::1]:5173"]))
    assert GatewaySettings().cors_origins == ["https://shop.example.com", "http://[::1]:5173"]
    monkeypatch.setenv("PAKLOG_CORS_ORIGINS", '["*"]')
    with pytest.raises(ValidationError):
        GatewaySettings()


# -- security headers ------------------------------------------------------------------------------
def assert_security_headers(resp: httpx.Response, *, api: bool) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers.get_list(name) == [value], (name, resp.request.url)
    for name, value in API_HEADERS.items():
        assert resp.headers.get_list(name) == ([value] if api else []), (name, resp.request.url)
    assert "strict-transport-security" not in resp.headers


async def test_every_kind_of_api_answer_carries_the_security_headers(tight: Door) -> None:
    ok = await tight.http.get(f"/api/products/{tight.sku}", headers=tight.auth())
    assert ok.status_code == 200
    error = await tight.http.get("/api/orders")
    assert error.status_code == 401
    too_big = await tight.http.post(
        "/api/orders", content=b"x" * (65 * 1024), headers={"Content-Type": "application/json", **tight.auth()}
    )
    assert too_big.status_code == 413
    await tight.http.get("/api/orders")
    limited = await tight.http.get("/api/orders")
    assert limited.status_code == 429
    for resp in (ok, error, too_big, limited):
        assert_security_headers(resp, api=True)


async def test_the_openapi_pages_and_health_get_no_strict_csp(door: Door) -> None:
    for path in ("/docs", "/redoc", "/openapi.json", "/healthz"):
        resp = await door.http.get(path)
        assert resp.status_code == 200, path
        assert_security_headers(resp, api=False)


async def test_hsts_only_when_served_over_tls(make_door: Any) -> None:
    async for door in make_door(hsts_seconds=31_536_000):
        for path in ("/healthz", "/api/orders"):
            assert (await door.http.get(path)).headers["strict-transport-security"] == "max-age=31536000"


# -- request size ------------------------------------------------------------------------------------
async def test_the_body_limit_bounds_the_login_form_and_the_webhooks(make_door: Any) -> None:
    async for door in make_door(max_body_bytes=1024):
        form = await door.http.post("/api/auth/token", data={"username": "alice", "password": "p" * 2000})
        assert (form.status_code, form.json()["type"]) == (413, "PayloadTooLarge")
        assert_security_headers(form, api=True)
        signed = {SIGNATURE_HEADER: "sha256=" + "0" * 64, "Content-Type": "application/json"}
        big = json.dumps({"event_id": "e" * 2000}).encode()
        carrier = await door.http.post("/api/webhooks/carriers/SWIFT", content=big, headers=signed)
        assert (carrier.status_code, carrier.json()["type"]) == (413, "PayloadTooLarge")
        erp = await door.http.post(
            "/api/webhooks/erp", content=big, headers={**door.auth("erp", role="partner", scopes=["erp"])}
        )
        assert (erp.status_code, erp.json()["type"]) == (413, "PayloadTooLarge")
