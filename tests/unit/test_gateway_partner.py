"""The ERP's login through the gateway: client credentials at ``/api/auth/token``; a partner token opens nothing
meant for people (customer and operator routes answer 403), and a person's token opens no partner route."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from common.partners import ERP_CLIENT_ID
from common.security import TokenIssuer, TokenVerifier
from gateway.app import create_app
from gateway.clients import ServiceClients
from gateway.settings import GatewaySettings
from services.identity.app import create_app as identity_app
from services.identity.seed import seed
from services.identity.settings import IdentitySettings
from tests.conftest import ServiceDatabases
from tests.support import rolled_back_client

CLIENT_SECRET = secrets.token_hex(32)
PARTNER: dict[str, Any] = {"username": "erp", "user_id": "client:erp", "role": "partner", "email": "", "name": "ERP"}


@pytest.fixture
def database_url(service_databases: ServiceDatabases) -> str:
    return service_databases["identity"]


@pytest.fixture
async def gateway(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway before the real identity app (seeded with the ERP's client; rolled back after)."""
    async with rolled_back_client(identity_app, "identity", database_url) as (identity, sessions):
        async with sessions() as session:
            await seed(session, erp_client_secret=CLIENT_SECRET)
        secret = IdentitySettings(environment="test").jwt_secret
        settings = GatewaySettings(jwt_secret=secret, identity_url=str(identity.base_url).rstrip("/"))
        app = create_app(settings)
        app.state.clients = ServiceClients(identity, settings)
        app.state.verifier = TokenVerifier(secret=secret)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
            yield http


def partner_token(secret: str, scopes: list[str] | None = None) -> str:
    return TokenIssuer(secret=secret).issue(**PARTNER, scopes=["erp"] if scopes is None else scopes)


async def test_the_erp_logs_in_through_the_gateway(gateway: httpx.AsyncClient) -> None:
    form = {"grant_type": "client_credentials", "client_id": ERP_CLIENT_ID, "client_secret": CLIENT_SECRET}
    resp = await gateway.post("/api/auth/token", data=form)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["scope"], resp.json()["token_type"]) == ("erp", "bearer")
    pair = base64.b64encode(f"{ERP_CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    basic = await gateway.post(
        "/api/auth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {pair}"}
    )
    assert basic.status_code == 200, basic.text

    token = resp.json()["access_token"]
    me = await gateway.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert (me.status_code, me.json()["type"]) == (403, "PartnerToken")

    wrong = await gateway.post("/api/auth/token", data={**form, "client_secret": "not-it"})
    assert (wrong.status_code, wrong.json()["type"]) == (401, "InvalidClient")
    other = await gateway.post("/api/auth/token", data={"grant_type": "implicit"})
    assert (other.status_code, other.json()["type"]) == (400, "UnsupportedGrantType")
    people = await gateway.post("/api/auth/token", data={"username": "alice", "password": "alice-pass"})
    assert people.status_code == 200


async def test_failed_client_logins_are_throttled_per_client(gateway: httpx.AsyncClient) -> None:
    form = {"grant_type": "client_credentials", "client_id": ERP_CLIENT_ID, "client_secret": "wrong"}
    statuses = [(await gateway.post("/api/auth/token", data=form)).status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    # A user named like the client is counted apart.
    assert (await gateway.post("/api/auth/token", data={"username": "erp", "password": "x"})).status_code == 401


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/auth/me"),
        ("GET", "/api/orders"),
        ("POST", "/api/orders"),
        ("GET", "/api/orders/o-1"),
        ("POST", "/api/orders/o-1/cancel"),
        ("GET", "/api/products"),
        ("GET", "/api/products/MUG-RED"),
        ("GET", "/api/tracking"),
        ("GET", "/api/waves"),
        ("POST", "/api/waves"),
        ("GET", "/api/shipments"),
        ("GET", "/api/erp/sync"),
        ("GET", "/api/erp/dead-letters"),
        ("GET", "/api/audit"),
    ],
)
async def test_a_partner_token_gets_403_on_every_route_for_people(
    gateway: httpx.AsyncClient, method: str, path: str
) -> None:
    secret = IdentitySettings(environment="test").jwt_secret
    headers = {"Authorization": f"Bearer {partner_token(secret)}"}
    resp = await gateway.request(method, path, headers=headers, json={} if method == "POST" else None)
    assert (resp.status_code, resp.json()["type"]) == (403, "PartnerToken"), resp.text


async def test_a_partner_route_refuses_people_and_other_scopes(gateway: httpx.AsyncClient) -> None:
    secret = IdentitySettings(environment="test").jwt_secret
    issuer = TokenIssuer(secret=secret)
    operator = issuer.issue(username="olivia", user_id="u-o", role="operator", email="o@example.com", name="Olivia")
    tokens = {
        "operator": operator,
        "other-scope": partner_token(secret, scopes=["tms"]),
        "no-scope": partner_token(secret, scopes=[]),
    }
    for who, token in tokens.items():
        resp = await gateway.post("/api/webhooks/erp", content=b"{}", headers={"Authorization": f"Bearer {token}"})
        assert (resp.status_code, resp.json()["type"]) == (403, "InsufficientScope"), who
    anonymous = await gateway.post("/api/webhooks/erp", content=b"{}")
    assert (anonymous.status_code, anonymous.json()["type"]) == (401, "MissingToken")
