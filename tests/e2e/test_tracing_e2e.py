"""One X-Request-ID end to end: gateway → workflow memo → activity header → the orders service's log line.

And every process the platform runs logs JSON lines (its own file under the
state folder's ``logs``), and every child is pointed at the exception log.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from common.tracing import decode
from paklog.platform import LocalPlatform


def json_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a child's log, each of which must be a JSON object."""
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"{path.name}: not a JSON line: {line[:300]}") from None
    return parsed


async def logged(path: Path, request_id: str, seconds: float = 30) -> list[dict[str, Any]]:
    """The lines of ``path`` carrying ``request_id``, once there is one."""
    for _ in range(int(seconds / 0.1)):
        found = [line for line in json_lines(path) if line.get("request_id") == request_id]
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path.name} never logged request {request_id}")


async def test_one_request_id_reaches_memo_activity_header_and_service_log(
    platform: LocalPlatform, alice: httpx.AsyncClient
) -> None:
    request_id = f"e2e-{uuid.uuid4().hex}"
    body = {
        "lines": [{"sku": "MUG-RED", "quantity": 1}],
        "shipping_address": {
            "name": "Alice",
            "line1": "1 Main St",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
        "payment": {"card_token": "tok_visa"},
    }
    resp = await alice.post("/api/orders", params={"wait": "accepted"}, json=body, headers={"X-Request-ID": request_id})
    assert resp.status_code == 201, resp.text  # accepted: stock reserved, payment authorized
    assert resp.headers["X-Request-ID"] == request_id
    workflow_id = resp.json()["workflow_id"]

    client = await Client.connect(platform.temporal_address)
    handle = client.get_workflow_handle(workflow_id)
    memo = await (await handle.describe()).memo()
    assert memo["request_id"] == request_id
    assert memo["customer_id"] == "alice"  # the memos the gateway gave stay
    history = await handle.fetch_history()
    scheduled = [
        (
            event.activity_task_scheduled_event_attributes.activity_type.name,
            decode(event.activity_task_scheduled_event_attributes.header.fields),
        )
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled, "the saga scheduled no activity"
    assert {rid for _, rid in scheduled} == {request_id}

    logs = platform.logs_dir
    orders_lines = await logged(logs / "service-orders.log", request_id)
    assert any(line.get("method") == "POST" and line.get("path") == "/orders" for line in orders_lines), orders_lines
    # The gateway's own request line, and the worker's activities' calls to the other services, carry it too.
    assert await logged(logs / "gateway.log", request_id)
    assert await logged(logs / "service-inventory.log", request_id)
    for name in ("gateway.log", "worker.log", "service-orders.log", "service-audit.log"):
        assert json_lines(logs / name), name  # every line is JSON, and there are some


def test_every_child_ships_to_the_exception_log(platform: LocalPlatform) -> None:
    env = platform.child_env()
    assert env["PAKLOG_EXCEPTIONS_URL"] == f"{platform.service_url('audit')}/exceptions"
    assert env["PAKLOG_LOG_FORMAT"] == "json"
