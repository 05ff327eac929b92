"""An audit database per test (chains are tampered with), and the service running as its writer role."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from common.settings import ServiceCredential
from services.audit.app import create_app
from services.audit.roles import provision_writer
from services.audit.settings import WRITER_ROLE, as_role, writer_password
from tests.conftest import FreshDatabase
from tests.support import committing_client


@dataclass(frozen=True)
class AuditDb:
    owner_url: str  # the migrating owner (superuser here): what a tamperer with full rights holds
    writer_url: str  # the runtime role: SELECT and INSERT only


@pytest.fixture
async def audit_db(fresh_database: FreshDatabase) -> AuditDb:
    owner_url = await fresh_database("audit")
    password = writer_password(ServiceCredential().service_token.get_secret_value(), None)
    await provision_writer(owner_url, password)
    return AuditDb(owner_url, as_role(owner_url, WRITER_ROLE, password))


@pytest.fixture
async def client(audit_db: AuditDb) -> AsyncIterator[httpx.AsyncClient]:
    """The service over ASGI on the writer role's connections, with real commits."""
    async with committing_client(create_app, "audit", audit_db.writer_url, pool_size=4) as http:
        yield http


def entry(**overrides: Any) -> dict[str, Any]:
    """One call as the gateway records it, with a fresh ``record_id``."""
    record: dict[str, Any] = {
        "record_id": uuid.uuid4().hex,
        "at": datetime.now(UTC).isoformat(),
        "actor": "olivia",
        "actor_id": "u-olivia",
        "role": "operator",
        "method": "GET",
        "path": "/api/orders/o-1",
        "route": "/api/orders/{order_id}",
        "status": 200,
        "request_id": uuid.uuid4().hex,
        "workflow_id": "order-o-1",
        "order_id": "o-1",
        "request_digest": None,
        "response_digest": "ab" * 32,
    }
    record.update(overrides)
    return record


async def append(client: httpx.AsyncClient, *items: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/records", json={"items": list(items)})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def trail(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    """Every record (oldest first) matching ``params``."""
    resp = await client.get("/records", params={"oldest_first": "true", "limit": 500, **params})
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return items
