"""Each service's OpenAPI document tells what its mutating routes really answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

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


#: Identity's routes that answer or take a secret (a token pair, a password, a reset token, a client secret):
#: a replayed answer would have to be stored, secret and all, so they take no key (docs/identity.md).
CREDENTIAL_EXCHANGES = frozenset(
    {
        "/token",
        "/sessions/refresh",
        "/accounts/{user_id}/password",
        "/password-resets",
        "/password-resets/confirm",
        "/clients",
        "/clients/{client_id}/rotate",
    }
)


def document(service: str) -> dict[str, Any]:
    app = APPS[service](ServiceSettings(service=service, environment="test"))
    return app.openapi()


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_mutation_takes_a_key_and_documents_its_conflicts(service: str) -> None:
    mutations = [
        (path, operation)
        for path, item in document(service)["paths"].items()
        for method, operation in item.items()
        if method in {"post", "put"} and not (service == "identity" and path in CREDENTIAL_EXCHANGES)
    ]
    assert mutations
    for path, operation in mutations:
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in headers, path
        assert "409" in operation["responses"], path


def test_identitys_credential_exchanges_are_the_only_keyless_mutations() -> None:
    paths = document("identity")["paths"]
    for path in CREDENTIAL_EXCHANGES:
        operation = paths[path]["post"]
        assert "Idempotency-Key" not in {p["name"] for p in operation.get("parameters", [])}, path


def test_payments_and_notifications_document_their_other_answers() -> None:
    authorize = document("payments")["paths"]["/payments/authorize"]["post"]["responses"]
    assert {"200", "201", "402", "409", "503"} <= set(authorize)
    assert authorize["402"]["content"]["application/json"]["schema"]["$ref"].endswith("/PaymentDeclinedBody")
    send = document("notifications")["paths"]["/messages"]["post"]["responses"]
    assert {"201", "409", "503"} <= set(send)
