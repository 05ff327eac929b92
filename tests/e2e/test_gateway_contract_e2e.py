"""The gateway's contract over the live platform: its OpenAPI document, its errors, its idempotency."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonschema_rs
import pytest

from common.settings import SERVICE_NAMES
from common.webhooks import SIGNATURE_HEADER, carrier_secret, erp_secret, sign
from gateway.app import create_app
from gateway.settings import GatewaySettings
from paklog.platform import LocalPlatform, _bin, _port_open, free_port
from tests.e2e.conftest import login
from tests.e2e.test_identity_flows_e2e import check_identity
from tests.e2e.test_orders_e2e import order_body, place, settle

pytestmark = pytest.mark.e2e


class Contract:
    """Checks real answers against the gateway's own OpenAPI document, and counts the operations seen."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.seen: set[tuple[str, str]] = set()

    def operations(self) -> set[tuple[str, str]]:
        return {(method.upper(), path) for path, item in self.document["paths"].items() for method in item}

    def check(self, resp: httpx.Response, template: str, status: int) -> dict[str, Any] | list[Any]:
        method = resp.request.method
        assert resp.status_code == status, f"{method} {resp.request.url}: {resp.status_code} {resp.text}"
        responses = self.document["paths"][template][method.lower()]["responses"]
        assert str(status) in responses, f"{method} {template} answered {status}, documented {sorted(responses)}"
        assert resp.headers.get("x-request-id")
        self.seen.add((method, template))
        content = responses[str(status)].get("content")
        if content is None:
            assert not resp.content
            return {}
        assert resp.headers["content-type"].startswith("application/json")
        schema = {**content["application/json"]["schema"], "components": self.document["components"]}
        body: dict[str, Any] | list[Any] = resp.json()
        errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(body)]
        assert not errors, f"{method} {template} {status}: {errors} in {body}"
        return body


@pytest.fixture
async def contract(platform: LocalPlatform) -> Contract:
    async with httpx.AsyncClient(base_url=platform.gateway_url) as http:
        return Contract((await http.get("/openapi.json")).json())


async def test_every_route_answers_what_the_document_says(
    platform: LocalPlatform, contract: Contract, alice: httpx.AsyncClient
) -> None:
    c = contract
    doc = c.document
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    status_param = next(p for p in doc["paths"]["/api/orders"]["get"]["parameters"] if p["name"] == "status")
    assert "pattern" not in str(status_param)
    assert doc["components"]["schemas"]["OrderStatus"]["enum"][0] == "PENDING"

    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=60) as anonymous:
        c.check(await anonymous.get("/healthz"), "/healthz", 200)
        c.check(
            await anonymous.post("/api/auth/token", data={"username": "alice", "password": "alice-pass"}),
            "/api/auth/token",
            200,
        )
        wrong = c.check(
            await anonymous.post("/api/auth/token", data={"username": "alice", "password": "nope"}),
            "/api/auth/token",
            401,
        )
        assert wrong["type"] == "InvalidCredentials"  # type: ignore[call-overload]
        c.check(await anonymous.post("/api/auth/token", data={"username": "alice"}), "/api/auth/token", 422)
        c.check(await anonymous.get("/api/auth/me"), "/api/auth/me", 401)
        c.check(await anonymous.get("/api/orders"), "/api/orders", 401)

    c.check(await alice.get("/api/auth/me"), "/api/auth/me", 200)
    c.check(await alice.get("/api/web-config"), "/api/web-config", 200)
    c.check(await alice.get("/api/products"), "/api/products", 200)
    c.check(await alice.get("/api/products", params={"offset": 10**12}), "/api/products", 422)
    c.check(await alice.get("/api/products/MUG-BLU"), "/api/products/{sku}", 200)
    c.check(await alice.get("/api/products/NO-SUCH-SKU"), "/api/products/{sku}", 404)
    c.check(await alice.get("/api/products/lower-case"), "/api/products/{sku}", 422)

    key = f"contract-{uuid.uuid4()}"
    body = order_body(("MUG-BLU", 1))
    accepted = c.check(await alice.post("/api/orders", json=body, headers={"Idempotency-Key": key}), "/api/orders", 202)
    order_id = accepted["order_id"]  # type: ignore[call-overload]
    c.check(await alice.post("/api/orders", json=body, headers={"Idempotency-Key": key}), "/api/orders", 202)
    other = order_body(("MUG-BLU", 2))
    c.check(await alice.post("/api/orders", json=other, headers={"Idempotency-Key": key}), "/api/orders", 409)
    c.check(await alice.post("/api/orders", json=order_body(("NO-SUCH-SKU", 1))), "/api/orders", 422)
    huge = {**body, "shipping_address": {**body["shipping_address"], "line1": "x" * 100_000}}
    c.check(await alice.post("/api/orders", json=huge), "/api/orders", 413)
    c.check(
        await alice.post("/api/orders", content=b'{"lines": "\x80"}', headers={"Content-Type": "application/json"}),
        "/api/orders",
        400,
    )

    await settle(alice, order_id)
    c.check(await alice.get("/api/orders", params={"status": "AWAITING_WAVE"}), "/api/orders", 200)
    c.check(await alice.get("/api/orders", params={"status": "NOT_A_STATUS"}), "/api/orders", 422)
    page: Any = c.check(await alice.get("/api/orders", params={"limit": 1}), "/api/orders", 200)
    assert set(page) == {"items", "total", "limit", "offset", "next_cursor"}
    assert (page["next_cursor"] is None) == (page["total"] <= 1)
    last: Any = c.check(await alice.get("/api/orders", params={"offset": page["total"] - 1}), "/api/orders", 200)
    assert (len(last["items"]), last["next_cursor"]) == (1, None)
    if page["next_cursor"] is not None:  # alice's earlier orders (other test files) are there
        after = {"limit": 1, "cursor": page["next_cursor"]}
        c.check(await alice.get("/api/orders", params=after), "/api/orders", 200)
    bad = c.check(await alice.get("/api/orders", params={"cursor": "bm90LWEtY3Vyc29y"}), "/api/orders", 422)
    window = {"since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00+01:00"}
    mine: Any = c.check(
        await alice.get("/api/orders", params={"status": "AWAITING_WAVE", **window}), "/api/orders", 200
    )
    assert order_id in [o["order_id"] for o in mine["items"]]
    declined: Any = c.check(await alice.get("/api/orders", params={"reason": "OUT_OF_STOCK"}), "/api/orders", 200)
    assert order_id not in [o["order_id"] for o in declined["items"]]
    backwards = {"since": window["until"], "until": window["since"]}
    c.check(await alice.get("/api/orders", params=backwards), "/api/orders", 422)
    c.check(await alice.get("/api/orders", params={"since": "2020-01-01T00:00:00"}), "/api/orders", 422)
    assert bad["type"] == "InvalidCursor"  # type: ignore[call-overload]
    view = c.check(await alice.get(f"/api/orders/{order_id}"), "/api/orders/{order_id}", 200)
    assert view["status"] == "AWAITING_WAVE"  # type: ignore[call-overload]
    c.check(await alice.get("/api/orders/nosuchorder"), "/api/orders/{order_id}", 404)
    c.check(await alice.get("/api/orders/not%20an%20id"), "/api/orders/{order_id}", 422)
    await check_the_floor(platform, c, alice, order_id)
    undone: Any = c.check(await alice.post(f"/api/orders/{order_id}/cancel"), "/api/orders/{order_id}/cancel", 200)
    later: Any = c.check(await alice.get(f"/api/orders/{order_id}"), "/api/orders/{order_id}", 200)
    assert later["compensations"] == undone["compensations"], later  # asked of the order's workflow
    c.check(await alice.post(f"/api/orders/{order_id}/cancel"), "/api/orders/{order_id}/cancel", 409)
    c.check(await alice.post("/api/orders/nosuchorder/cancel"), "/api/orders/{order_id}/cancel", 404)
    await check_identity(platform, c)

    assert c.seen == c.operations()


NO_TASK = "0" * 32  # a well-formed task id nobody was given


async def check_the_floor(platform: LocalPlatform, c: Contract, alice: httpx.AsyncClient, order_id: str) -> None:
    """The warehouse routes, as an operator: the order is waved and released, a pick is refused, not packed yet."""
    olivia = await login(platform, "olivia", "olivia-pass")
    try:
        address = order_body(("MUG-BLU", 1))["shipping_address"] | {"line1": "2 New Road"}
        moved = await alice.put(f"/api/orders/{order_id}/shipping-address", json={"shipping_address": address})
        c.check(moved, "/api/orders/{order_id}/shipping-address", 200)
        wave: Any = c.check(await olivia.post("/api/waves", json={"max_orders": 500}), "/api/waves", 201)
        assert order_id in wave["order_ids"]
        c.check(await olivia.post("/api/waves", json={"max_orders": 500}), "/api/waves", 409)
        c.check(await olivia.post("/api/waves", json={"max_orders": 0}), "/api/waves", 422)
        c.check(await alice.post("/api/waves"), "/api/waves", 403)
        c.check(await olivia.get("/api/waves"), "/api/waves", 200)
        wave_path = "/api/waves/{wave_id}"
        c.check(await olivia.get(f"/api/waves/{wave['wave_id']}"), wave_path, 200)
        c.check(await olivia.get("/api/waves/nosuchwave"), wave_path, 404)
        remove = f"/api/waves/{wave['wave_id']}/orders/nosuchorder/remove"
        c.check(await olivia.post(remove), "/api/waves/{wave_id}/orders/{order_id}/remove", 409)
        release = f"/api/waves/{wave['wave_id']}/release"
        c.check(await olivia.post(release), "/api/waves/{wave_id}/release", 200)
        c.check(await olivia.post(release), "/api/waves/{wave_id}/release", 409)
        nothing = await olivia.get("/api/pick-tasks/next", params={"wave_id": "nosuchwave"})
        c.check(nothing, "/api/pick-tasks/next", 204)
        task: Any = c.check(
            await olivia.get("/api/pick-tasks/next", params={"wave_id": wave["wave_id"]}), "/api/pick-tasks/next", 200
        )
        wrong = {"location": "Z-99-99-9", "sku": task["sku"], "lot": task["lot"], "quantity": task["quantity"]}
        confirm = "/api/pick-tasks/{task_id}/confirm"
        for _ in range(60):  # the order's PickPackShip may take a moment to start after the release
            resp = await olivia.post(f"/api/pick-tasks/{task['task_id']}/confirm", json=wrong)
            if resp.json().get("type") != "NotReady":
                break
            await asyncio.sleep(0.5)
        c.check(resp, confirm, 409)
        c.check(await olivia.post(f"/api/pick-tasks/{NO_TASK}/confirm", json=wrong), confirm, 404)
        short = "/api/pick-tasks/{task_id}/short"
        c.check(await olivia.post(f"/api/pick-tasks/{NO_TASK}/short", json=wrong | {"quantity": 0}), short, 404)
        pack = {"station": "PACK-1", "items": [{"sku": "MUG-BLU", "quantity": 1}]}
        c.check(await olivia.post(f"/api/orders/{order_id}/pack", json=pack), "/api/orders/{order_id}/pack", 409)
        retry = await olivia.post(f"/api/orders/{order_id}/retry")
        c.check(retry, "/api/orders/{order_id}/retry", 409)
        c.check(await olivia.get("/api/shipments"), "/api/shipments", 200)
        c.check(await olivia.get("/api/shipments/NOSUCHCODE"), "/api/shipments/{tracking_code}", 404)
        c.check(await olivia.get("/api/shipments/NOSUCHCODE/label"), "/api/shipments/{tracking_code}/label", 404)
        c.check(await olivia.get("/api/carriers"), "/api/carriers", 200)
        sync: Any = c.check(await olivia.get("/api/erp/sync"), "/api/erp/sync", 200)
        assert [e["entity"] for e in sync["entities"]] == ["materials", "customers", "stock"]
        c.check(await alice.get("/api/erp/sync"), "/api/erp/sync", 403)
        # A 202 here would import the ERP's 5,000 materials into the shared platform's catalogue, which later
        # tests read: the run itself is started on a platform of its own (test_erp_sync_and_bench_e2e); the
        # refusals are checked here, and the 503 with Temporal down below.
        c.check(await alice.post("/api/erp/sync"), "/api/erp/sync", 403)
        await check_tracking(platform, c, alice)
        await check_erp_events(platform, c, alice, olivia)
        c.check(await olivia.get("/api/audit", params={"limit": 5}), "/api/audit", 200)
        c.check(await olivia.get("/api/audit", params={"until": "0.5"}), "/api/audit", 422)
        c.check(await alice.get("/api/audit"), "/api/audit", 403)
        # The stream's own answers are text/event-stream (test_live_updates_e2e); its refusals are JSON.
        c.check(await alice.get("/api/orders/000000000000/events"), "/api/orders/{order_id}/events", 404)
        c.check(await alice.get("/api/orders/events"), "/api/orders/events", 403)
        c.check(await olivia.get("/api/orders/events", params={"after": "1.x"}), "/api/orders/events", 422)
    finally:
        await olivia.aclose()


async def check_tracking(platform: LocalPlatform, c: Contract, alice: httpx.AsyncClient) -> None:
    """The tracking routes and the carrier webhook (its success paths are in ``test_tracking_e2e``)."""
    c.check(await alice.get("/api/tracking"), "/api/tracking", 200)
    c.check(await alice.get("/api/tracking", params={"limit": 0}), "/api/tracking", 422)
    c.check(await alice.get("/api/tracking/NOSUCHCODE"), "/api/tracking/{tracking_code}", 404)
    c.check(await alice.post("/api/tracking/NOSUCHCODE", json={"title": "t"}), "/api/tracking/{tracking_code}", 404)
    c.check(await alice.post("/api/tracking/NOSUCHCODE", json={"title": 5}), "/api/tracking/{tracking_code}", 422)
    c.check(await alice.delete("/api/tracking/NOSUCHCODE"), "/api/tracking/{tracking_code}", 404)
    hook = "/api/webhooks/carriers/{carrier}"
    event = {
        "event_id": f"contract-{uuid.uuid4().hex}",
        "tracking_code": "NOSUCHCODE",
        "carrier": "SWIFT",
        "status": "IN_TRANSIT",
        "occurred_at": "2026-11-24T10:00:00+00:00",
    }
    body = json.dumps(event).encode()
    secret = carrier_secret(platform.service_token, "SWIFT", None)
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=30) as carrier:
        c.check(await carrier.post("/api/webhooks/carriers/SWIFT", content=body), hook, 401)
        signed = {SIGNATURE_HEADER: sign(secret, body), "Content-Type": "application/json"}
        c.check(await carrier.post("/api/webhooks/carriers/SWIFT", content=body, headers=signed), hook, 404)
        broken = b'{"event_id": 1}'
        bad = {SIGNATURE_HEADER: sign(secret, broken), "Content-Type": "application/json"}
        c.check(await carrier.post("/api/webhooks/carriers/SWIFT", content=broken, headers=bad), hook, 422)


async def check_erp_events(
    platform: LocalPlatform, c: Contract, alice: httpx.AsyncClient, olivia: httpx.AsyncClient
) -> None:
    """The ERP's login, its webhook and the dead letters (the event path itself is in ``test_erp_events_e2e``)."""
    hook = "/api/webhooks/erp"
    login = {"grant_type": "client_credentials", "client_id": "erp", "client_secret": platform.erp_client_secret}
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=30) as erp:
        token: Any = c.check(await erp.post("/api/auth/token", data=login), "/api/auth/token", 200)
        assert token["scope"] == "erp"
        wrong = c.check(
            await erp.post("/api/auth/token", data={**login, "client_secret": "not-it"}), "/api/auth/token", 401
        )
        assert wrong["type"] == "InvalidClient"  # type: ignore[call-overload]
        c.check(await erp.post("/api/auth/token", data={"grant_type": "implicit"}), "/api/auth/token", 400)
        partner = {"Authorization": f"Bearer {token['access_token']}"}
        c.check(await erp.get("/api/auth/me", headers=partner), "/api/auth/me", 403)

        event: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "type": "SalesOrderStatusChanged",
            "object_id": "0000599999",
            "occurred_at": "2027-01-12T10:00:00.000001Z",
            "data": {"SalesOrder": "0000599999", "PurchaseOrderByCustomer": "nosuchorder", "OverallStatus": "OPEN"},
        }
        body = json.dumps(event).encode()
        secret = erp_secret(platform.service_token, None)
        signed = {SIGNATURE_HEADER: sign(secret, body), "Content-Type": "application/json"}
        c.check(await erp.post(hook, content=body, headers=signed), hook, 401)  # no token
        c.check(await alice.post(hook, content=body, headers=signed), hook, 403)  # a person's token
        bad = {**partner, SIGNATURE_HEADER: "sha256=" + "0" * 64, "Content-Type": "application/json"}
        c.check(await erp.post(hook, content=body, headers=bad), hook, 401)
        lost: Any = c.check(await erp.post(hook, content=body, headers={**partner, **signed}), hook, 200)
        assert lost == {"event_id": event["event_id"], "result": "dead_letter"}
        again: Any = c.check(await erp.post(hook, content=body, headers={**partner, **signed}), hook, 200)
        assert again["result"] == "duplicate"
        reused = json.dumps({**event, "occurred_at": "2027-01-12T11:00:00Z"}).encode()
        resigned = {**partner, SIGNATURE_HEADER: sign(secret, reused), "Content-Type": "application/json"}
        c.check(await erp.post(hook, content=reused, headers=resigned), hook, 409)  # EventMismatch
        broken = b'{"event_id": 1}'
        c.check(
            await erp.post(hook, content=broken, headers={**partner, SIGNATURE_HEADER: sign(secret, broken)}), hook, 422
        )
        huge = json.dumps({**event, "data": {**event["data"], "pad": "x" * 40_000}}).encode()
        c.check(
            await erp.post(hook, content=huge, headers={**partner, SIGNATURE_HEADER: sign(secret, huge)}), hook, 413
        )

    letters = "/api/erp/dead-letters"
    page: Any = c.check(await olivia.get(letters, params={"limit": 200}), letters, 200)
    assert event["event_id"] in {d["event_id"] for d in page["items"]}
    c.check(await alice.get(letters), letters, 403)
    c.check(await olivia.get(letters, params={"offset": 10_000}), letters, 422)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/orders", {"GET", "POST"}),
        ("DELETE", "/api/orders/abc", {"GET"}),
        ("GET", "/api/orders/abc/cancel", {"POST"}),
        ("TRACE", "/healthz", {"GET"}),
    ],
)
async def test_405_names_every_method_of_the_path(
    alice: httpx.AsyncClient, method: str, path: str, allowed: set[str]
) -> None:
    resp = await alice.request(method, path)
    assert resp.status_code == 405
    assert resp.json()["type"] == "MethodNotAllowed"
    assert {m.strip() for m in resp.headers["allow"].split(",")} - {"HEAD"} == allowed


async def test_a_chunked_body_over_the_limit_is_413(platform: LocalPlatform, alice: httpx.AsyncClient) -> None:
    async def chunks(count: int) -> AsyncIterator[bytes]:  # no length known up front: Transfer-Encoding: chunked
        for _ in range(count):
            yield b" " * 1024

    big = await alice.post("/api/orders", content=chunks(200), headers={"Content-Type": "application/json"})
    assert big.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in big.request.headers
    assert (big.status_code, big.json()["type"]) == (413, "PayloadTooLarge")
    assert big.headers.get("x-request-id")

    # A small chunked body still goes through: the middleware hands over what it read.
    async def small() -> AsyncIterator[bytes]:
        text = httpx.Request("POST", "/", json=order_body(("MUG-BLU", 1))).content
        for i in range(0, len(text), 40):
            yield text[i : i + 40]

    ok = await alice.post("/api/orders", content=small(), headers={"Content-Type": "application/json"})
    assert ok.status_code == 202, ok.text
    await settle(alice, ok.json()["order_id"])


def _start_temporal(port: int) -> subprocess.Popen[bytes]:
    argv = [_bin("temporal"), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port), "--headless"]
    return subprocess.Popen(
        [*argv, "--log-level", "error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@contextlib.asynccontextmanager
async def own_temporal() -> AsyncIterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Temporal dev server of the test's own, to be stopped while the gateway uses it."""
    port = free_port()
    proc = _start_temporal(port)
    try:
        deadline = time.monotonic() + 60
        while not _port_open("127.0.0.1", port):
            assert proc.poll() is None, "the Temporal dev server exited"
            assert time.monotonic() < deadline, "the Temporal dev server did not start"
            await asyncio.sleep(0.2)
        yield f"127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.timeout(240)
async def test_temporal_unreachable_is_503(platform: LocalPlatform) -> None:
    settings: dict[str, str] = {f"{name}_url": platform.service_url(name) for name in SERVICE_NAMES}
    async with own_temporal() as (address, server):
        settings.update(temporal_address=address, task_queue="unreachable")
        app = create_app(GatewaySettings.model_validate(settings))
        async with app.router.lifespan_context(app):
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=120) as http:
                token = await http.post("/api/auth/token", data={"username": "alice", "password": "alice-pass"})
                assert token.status_code == 200, token.text
                http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
                # The orders service has no such order, so the gateway asks the workflow.
                unknown = await http.get(f"/api/orders/{uuid.uuid4().hex[:20]}")
                assert (unknown.status_code, unknown.json()["type"]) == (503, "TemporalUnavailable"), unknown.text
                repeat = await http.post(
                    "/api/orders", json=order_body(("MUG-BLU", 1)), headers={"Idempotency-Key": str(uuid.uuid4())}
                )
                assert (repeat.status_code, repeat.json()["type"]) == (503, "TemporalUnavailable"), repeat.text
                assert set(repeat.json()) == {"type", "detail"}
                staff = await http.post("/api/auth/token", data={"username": "olivia", "password": "olivia-pass"})
                olivia = {"Authorization": f"Bearer {staff.json()['access_token']}"}
                sync = await http.post("/api/erp/sync", headers=olivia)
                assert (sync.status_code, sync.json()["type"]) == (503, "TemporalUnavailable"), sync.text


async def test_a_repeated_order_answers_its_current_status_even_with_inventory_down(
    platform: LocalPlatform, alice: httpx.AsyncClient
) -> None:
    key = f"repeat-{uuid.uuid4()}"
    body = order_body(("MUG-BLU", 1))
    order_id = await place(alice, body, key)
    assert (await settle(alice, order_id))["status"] == "AWAITING_WAVE"

    again = await alice.post("/api/orders", json=body, headers={"Idempotency-Key": key})
    assert (again.status_code, again.json()["status"]) == (202, "AWAITING_WAVE"), again.text
    assert again.json()["order_id"] == order_id
    assert again.headers.get("idempotent-replayed") == "true"

    assert (await alice.post(f"/api/orders/{order_id}/cancel")).status_code == 200
    platform.kill("service-inventory", keep_down=True)
    try:
        # Inventory is really down: a new order cannot be priced.
        fresh = await alice.post("/api/orders", json=body)
        assert (fresh.status_code, fresh.json()["type"]) == (503, "ServiceUnavailable"), fresh.text

        repeat = await alice.post("/api/orders", json=body, headers={"Idempotency-Key": key})
        assert repeat.status_code == 202, repeat.text
        assert repeat.json() == {"order_id": order_id, "workflow_id": f"order-{order_id}", "status": "CANCELLED"}

        reused = await alice.post("/api/orders", json=order_body(("MUG-BLU", 2)), headers={"Idempotency-Key": key})
        assert (reused.status_code, reused.json()["type"]) == (409, "IdempotencyKeyReused")
    finally:
        await asyncio.to_thread(platform.respawn, "service-inventory")
    assert (await alice.get("/api/products/MUG-BLU")).status_code == 200
