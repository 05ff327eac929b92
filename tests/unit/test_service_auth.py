"""Internal doors are locked: every service refuses a call without this deployment's service token."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from common.service_auth import SECURITY_SCHEME, SERVICE_TOKEN_HEADER
from common.settings import ServiceSettings
from services.identity.app import create_app as identity_app
from services.inventory.app import create_app as inventory_app
from services.notifications.app import create_app as notifications_app
from services.orders.app import create_app as orders_app
from services.payments.app import create_app as payments_app

APPS: dict[str, Callable[..., FastAPI]] = {
    "identity": identity_app,
    "inventory": inventory_app,
    "notifications": notifications_app,
    "orders": orders_app,
    "payments": payments_app,
}
# A read and a write per service: what a stray local process would try first.
DOORS: dict[str, list[tuple[str, str]]] = {
    "identity": [("GET", "/users"), ("POST", "/token"), ("POST", "/users")],
    "orders": [("GET", "/orders"), ("GET", "/orders/1"), ("POST", "/orders/1/cancel")],
    "inventory": [("GET", "/products"), ("PUT", "/products/MUG-RED"), ("POST", "/reservations")],
    "payments": [("GET", "/payments"), ("POST", "/payments/authorize")],
    "notifications": [("GET", "/messages"), ("POST", "/messages")],
}
CASES = [(service, method, path) for service, doors in DOORS.items() for method, path in doors]
TOKEN = "the-real-service-token-of-this-test-deployment"


def client(service: str) -> httpx.AsyncClient:
    # No lifespan, no database: a refused call must be refused before either is touched.
    app = APPS[service](ServiceSettings(service=service, environment="test", service_token=TOKEN))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{service}")


def assert_refused(resp: httpx.Response, error_type: str) -> None:
    assert resp.status_code == 401, resp.text
    assert resp.json()["type"] == error_type
    assert set(resp.json()) == {"type", "detail"}
    assert resp.headers["WWW-Authenticate"].startswith(SECURITY_SCHEME)
    assert TOKEN not in resp.text


@pytest.mark.parametrize(("service", "method", "path"), CASES)
async def test_a_call_without_the_service_token_is_401(service: str, method: str, path: str) -> None:
    async with client(service) as http:
        resp = await http.request(method, path, json={"order_id": "1"})
    assert_refused(resp, "MissingServiceCredential")


@pytest.mark.parametrize(("service", "method", "path"), CASES)
async def test_a_call_with_a_wrong_service_token_is_401(service: str, method: str, path: str) -> None:
    wrong = [TOKEN[:-1], TOKEN + "x", "", TOKEN.upper()]
    async with client(service) as http:
        for token in wrong:
            resp = await http.request(method, path, headers={SERVICE_TOKEN_HEADER: token}, json={"order_id": "1"})
            assert_refused(resp, "InvalidServiceCredential")


@pytest.mark.parametrize("service", sorted(APPS))
async def test_the_api_description_and_unknown_paths_are_locked_too(service: str) -> None:
    async with client(service) as http:
        for path in ("/openapi.json", "/docs", "/no-such-path"):
            assert_refused(await http.get(path), "MissingServiceCredential")
        described = await http.get("/openapi.json", headers={SERVICE_TOKEN_HEADER: TOKEN})
    assert described.status_code == 200


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_operation_declares_the_service_token(service: str) -> None:
    document = APPS[service](ServiceSettings(service=service, environment="test", service_token=TOKEN)).openapi()
    scheme = document["components"]["securitySchemes"][SECURITY_SCHEME]
    assert scheme == {
        "type": "apiKey",
        "in": "header",
        "name": SERVICE_TOKEN_HEADER,
        "description": scheme["description"],
    }
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path in ("/healthz", "/.well-known/jwks.json"):
                assert operation["security"] == [], path
                continue
            assert operation["security"], (method, path)
            assert all(SECURITY_SCHEME in requirement for requirement in operation["security"]), (method, path)
            assert "401" in operation["responses"], (method, path)


def test_settings_refuse_a_placeholder_token_outside_development() -> None:
    with pytest.raises(ValueError, match="PAKLOG_SERVICE_TOKEN"):
        ServiceSettings(service="orders", environment="production", service_token="paklog-dev-service-token-change-me")
    with pytest.raises(ValueError, match="PAKLOG_SERVICE_TOKEN"):
        ServiceSettings(service="orders", environment="test", service_token="short")
    assert ServiceSettings(service="orders", environment="development", service_token="short")
