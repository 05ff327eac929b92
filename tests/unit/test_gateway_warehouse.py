"""The gateway's warehouse door over a real (time-skipping) Temporal and stand-in services.

Stand-in workflows under the real names (``WaveRelease``, ``PickPackShip``,
``OrderFulfillment``) refuse updates the way the contract says
(``docs/warehouse-floor.md``), so the gateway meets real
``WorkflowUpdateFailedError`` / ``RPCError`` answers; the warehouse, shipping,
orders and payments services are small FastAPI apps behind
``httpx.ASGITransport``.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Response
from temporalio import workflow
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from common.security import TokenIssuer, TokenVerifier
from gateway.app import create_app
from gateway.clients import ServiceClients
from gateway.settings import GatewaySettings
from tests.workflows.fakes import TEST_SERVER
from workflows.order_types import WORKFLOW_NAME as ORDER_WORKFLOW_NAME
from workflows.warehouse_types import (
    ADDRESS_LOCKED,
    ILLEGAL_WAVE_TRANSITION,
    NOT_PICKED,
    PACK_MISMATCH,
    PPS_WORKFLOW_NAME,
    QUANTITY_EXCEEDS_TASK,
    SCAN_MISMATCH,
    WAVE_WORKFLOW_NAME,
    ChangeAddressRequest,
    PackItem,
    PackResult,
    PackScan,
    PickConfirmed,
    PickScan,
    ReleaseWave,
    RemoveOrderFromWave,
    WaitForWaveStatus,
    WaveReleaseInput,
    WaveState,
    WaveStatus,
    pps_workflow_id,
)

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")

SECRET = secrets.token_urlsafe(48)
PDF_BYTES = b"%PDF-1.4\n" + b"x" * 20_000 + b"\n%%EOF\n"
TASK = {
    "task_id": "t-1",
    "wave_id": "w-1",
    "order_id": "ord-1",
    "sku": "MUG-RED",
    "location": "A-01-01-1",
    "lot": "L1",
    "quantity": 2,
    "picked_quantity": 0,
    "status": "ASSIGNED",
    "assigned_to": None,
    "pick_seq": 1,
}
PICK = {"location": "A-01-01-1", "sku": "MUG-RED", "lot": "L1", "quantity": 2}
ADDRESS = {"name": "Alice", "line1": "2 New Street", "city": "Hamburg", "postal_code": "20095", "country": "DE"}


# -- stand-in workflows -----------------------------------------------------------------
@workflow.defn(name=WAVE_WORKFLOW_NAME)
class StandInWave:
    """Plans at once (``max_orders == 1``: nothing waits, it ends ``EMPTY``); released by hand once."""

    def __init__(self) -> None:
        self._status = WaveStatus(wave_id="", status=WaveState.PLANNING)

    @workflow.run
    async def run(self, params: WaveReleaseInput) -> WaveStatus:
        assert not params.auto_release
        if params.max_orders == 1:
            self._status = WaveStatus(wave_id=params.wave_id, status=WaveState.EMPTY)
            return self._status
        self._status = WaveStatus(wave_id=params.wave_id, status=WaveState.PLANNED, order_ids=["ord-1", "ord-2"])
        await workflow.wait_condition(lambda: False)
        return self._status

    @workflow.update
    async def wait_for_status(self, request: WaitForWaveStatus) -> WaveStatus:
        await workflow.wait_condition(lambda: self._status.status in request.statuses)
        return self._status

    @workflow.update
    async def release(self, request: ReleaseWave) -> WaveStatus:
        self._status.status = WaveState.RELEASED
        return self._status

    @release.validator
    def _validate_release(self, request: ReleaseWave) -> None:
        if self._status.status != WaveState.PLANNED:
            raise ApplicationError(f"wave is {self._status.status}, not PLANNED", type=ILLEGAL_WAVE_TRANSITION)

    @workflow.update
    async def remove_order(self, request: RemoveOrderFromWave) -> WaveStatus:
        self._status.order_ids.remove(request.order_id)
        return self._status

    @remove_order.validator
    def _validate_remove(self, request: RemoveOrderFromWave) -> None:
        if self._status.status != WaveState.PLANNED:
            raise ApplicationError("the wave is on the floor", type=ILLEGAL_WAVE_TRANSITION)


@workflow.defn(name=PPS_WORKFLOW_NAME)
class StandInPickPackShip:
    """Order ``ord-1``: one task ``t-1`` (2 x MUG-RED at A-01-01-1, lot L1); ``done-*`` orders end at once."""

    def __init__(self) -> None:
        self._picked = 0
        self.scans: list[PickScan] = []

    @workflow.run
    async def run(self, order_id: str) -> str:
        if order_id.startswith("done"):
            return "SHIPPED"
        await workflow.wait_condition(lambda: False)
        return "SHIPPED"

    @workflow.update
    async def confirm_pick(self, scan: PickScan) -> PickConfirmed:
        self._picked = scan.quantity
        short = TASK["quantity"] - scan.quantity  # type: ignore[operator]
        return PickConfirmed(
            task_id=scan.task_id,
            status="SHORT" if short else "PICKED",
            picked_quantity=scan.quantity,
            short_quantity=short,
            new_task_ids=["t-9"] if short else [],
        )

    @confirm_pick.validator
    def _validate_pick(self, scan: PickScan) -> None:
        if scan.picker != "olivia":
            raise ApplicationError("no picker", type="UnknownPicker")
        if (scan.location, scan.sku, scan.lot) != (TASK["location"], TASK["sku"], TASK["lot"]):
            raise ApplicationError(f"scanned {scan.location}, the task is at {TASK['location']}", type=SCAN_MISMATCH)
        if scan.quantity > TASK["quantity"]:  # type: ignore[operator]
            raise ApplicationError("more than the task asks", type=QUANTITY_EXCEEDS_TASK)

    @workflow.update
    async def pack(self, scan: PackScan) -> PackResult:
        packed = sum(i.quantity for i in scan.items)
        if packed < self._picked:
            return PackResult(
                order_id="ord-1",
                status="SENT_BACK_TO_PICKING",
                missing=[PackItem(sku="MUG-RED", quantity=self._picked - packed)],
            )
        return PackResult(order_id="ord-1", status="PACKED", carton="S")

    @pack.validator
    def _validate_pack(self, scan: PackScan) -> None:
        if not self._picked:
            raise ApplicationError("task t-1 is not picked yet", type=NOT_PICKED)
        extra = [i.sku for i in scan.items if i.sku != "MUG-RED"]
        if extra:
            raise ApplicationError(f"not in this order: {extra}", {"extra": extra}, type=PACK_MISMATCH)


@workflow.defn(name=ORDER_WORKFLOW_NAME)
class StandInOrder:
    def __init__(self) -> None:
        self._packed = False
        self.address: ChangeAddressRequest | None = None

    @workflow.run
    async def run(self, order_id: str) -> None:
        self._packed = order_id == "ord-packed"
        await workflow.wait_condition(lambda: False)

    @workflow.update
    async def change_address(self, request: ChangeAddressRequest) -> None:
        self.address = request

    @change_address.validator
    def _validate_change(self, request: ChangeAddressRequest) -> None:
        if self._packed:
            raise ValueError("the order is packed")  # a plain exception: the gateway still answers AddressLocked


# -- stand-in services ------------------------------------------------------------------
def warehouse_service(seen: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.get("/waves/{wave_id}")
    async def wave(wave_id: str) -> Any:
        if wave_id == "nosuch":
            return Response(status_code=404, content=b'{"type":"WaveNotFound","detail":"no"}')
        return {
            "wave_id": wave_id,
            "status": "PLANNED",
            "order_ids": ["ord-1", "ord-2"],
            "tasks": [TASK],
            "counts": {"open": 1},
            "created_at": "2025-01-01T10:00:00Z",
        }

    @app.get("/waves")
    async def waves(limit: int, offset: int, status: str | None = None) -> Any:
        seen.append({"path": "/waves", "limit": limit, "offset": offset, "status": status})
        return [{"wave_id": "w-1", "status": "DONE", "order_ids": ["ord-1"]}]

    @app.get("/tasks/next")
    async def next_task(picker: str, wave_id: str | None = None) -> Any:
        seen.append({"path": "/tasks/next", "picker": picker, "wave_id": wave_id})
        if wave_id == "drained":
            return Response(status_code=204)
        return {**TASK, "assigned_to": picker}

    @app.get("/tasks/{task_id}")
    async def task(task_id: str) -> Any:
        tasks = {
            "t-1": TASK,
            "t-early": {**TASK, "task_id": "t-early", "order_id": "early"},
            "t-done": {**TASK, "task_id": "t-done", "order_id": "done-1"},
        }
        if task_id not in tasks:
            return Response(status_code=404, content=b'{"type":"NotFound","detail":"no"}')
        return tasks[task_id]

    return app


def shipping_service() -> FastAPI:
    app = FastAPI()
    shipment = {
        "shipment_id": "s-1",
        "order_id": "ord-1",
        "tracking_code": "SW123",
        "carrier": "SWIFT",
        "service_level": "STANDARD",
        "carton": "S",
        "rate_cents": 495,
        "currency": "EUR",
        "status": "LABELLED",
        "created_at": "2025-01-01T12:00:00Z",
    }

    @app.get("/shipments")
    async def shipments(limit: int, cursor: str | None = None) -> Any:
        return {"items": [shipment], "limit": limit, "next_cursor": None if cursor else "c1"}

    @app.get("/shipments/{code}")
    async def one(code: str) -> Any:
        return shipment if code == "SW123" else Response(status_code=404, content=b'{"type":"x","detail":"no"}')

    @app.get("/shipments/{code}/label")
    async def label(code: str) -> Response:
        if code == "HTML":
            return Response(content=b"<html/>", media_type="text/html")
        if code != "SW123":
            return Response(status_code=404, content=b'{"type":"x","detail":"no"}', media_type="application/json")
        return Response(content=PDF_BYTES, media_type="application/pdf")

    @app.get("/carriers")
    async def carriers() -> Any:
        return [
            {"carrier": "SWIFT", "state": "closed", "failures": 0, "opened_at": None},
            {"carrier": "PARCELNET", "state": "open", "failures": 5, "opened_at": "2025-01-01T12:00:00Z"},
        ]

    return app


def orders_service() -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def order(order_id: str) -> Any:
        if order_id not in ("ord-1", "ord-packed"):
            return Response(status_code=404, content=b'{"type":"x","detail":"no"}')
        return {
            "order_id": order_id,
            "customer_id": "alice",
            "status": "PACKED" if order_id == "ord-packed" else "AWAITING_WAVE",
            "lines": [{"sku": "MUG-RED", "quantity": 2, "unit_price_cents": 1200}],
            "total_cents": 2400,
            "currency": "EUR",
            "tracking_code": None,
            "erp_document_number": "0000500001",
        }

    @app.get("/payments")
    async def payments(order_id: str) -> Any:
        return [{"status": "AUTHORIZED", "created_at": "2025-01-01T10:00:00Z"}]

    return app


# -- the gateway ------------------------------------------------------------------------
@dataclass
class Floor:
    http: httpx.AsyncClient
    temporal: Client
    task_queue: str
    seen: list[dict[str, Any]]
    tokens: dict[str, str]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    async def start(self, workflow_name: str, arg: Any, workflow_id: str) -> None:
        await self.temporal.start_workflow(workflow_name, arg, id=workflow_id, task_queue=self.task_queue)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def floor() -> AsyncIterator[Floor]:
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(TEST_SERVER))
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    seen: list[dict[str, Any]] = []
    settings = GatewaySettings(
        jwt_secret=SECRET,
        task_queue=task_queue,
        update_wait_seconds=5,
        warehouse_url="http://warehouse.test",
        shipping_url="http://shipping.test",
        orders_url="http://orders.test",
        payments_url="http://orders.test",
    )
    upstream = httpx.AsyncClient(
        mounts={
            "http://warehouse.test": httpx.ASGITransport(app=warehouse_service(seen)),
            "http://shipping.test": httpx.ASGITransport(app=shipping_service()),
            "http://orders.test": httpx.ASGITransport(app=orders_service()),
        }
    )
    app = create_app(settings, temporal=env.client)
    app.state.clients = ServiceClients(upstream, settings)
    app.state.verifier = TokenVerifier(secret=SECRET)
    app.state.temporal = env.client
    issuer = TokenIssuer(secret=SECRET)
    tokens = {
        name: issuer.issue(username=name, user_id=f"u-{name}", role=role, email=f"{name}@example.com", name=name)
        for name, role in (("alice", "customer"), ("olivia", "operator"), ("admin", "admin"))
    }
    try:
        async with (
            Worker(
                env.client,
                task_queue=task_queue,
                workflows=[StandInWave, StandInPickPackShip, StandInOrder],
                workflow_runner=UnsandboxedWorkflowRunner(),
            ),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http,
        ):
            yield Floor(http, env.client, task_queue, seen, tokens)
    finally:
        await upstream.aclose()
        await env.shutdown()


# -- who may -----------------------------------------------------------------------------
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/api/waves", {"max_orders": 5}),
    ("GET", "/api/waves", None),
    ("GET", "/api/waves/w-1", None),
    ("POST", "/api/waves/w-1/release", None),
    ("POST", "/api/waves/w-1/orders/ord-1/remove", None),
    ("GET", "/api/pick-tasks/next", None),
    ("POST", "/api/pick-tasks/t-1/confirm", PICK),
    ("POST", "/api/pick-tasks/t-1/short", {**PICK, "quantity": 1}),
    ("POST", "/api/orders/ord-1/pack", {"station": "PACK-1", "items": [{"sku": "MUG-RED", "quantity": 2}]}),
    ("POST", "/api/orders/ord-1/retry", None),
    ("GET", "/api/shipments", None),
    ("GET", "/api/shipments/SW123", None),
    ("GET", "/api/shipments/SW123/label", None),
    ("GET", "/api/carriers", None),
]


def test_every_staff_route_is_in_the_document_with_its_403() -> None:
    doc = create_app(GatewaySettings()).openapi()
    documented = {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if {"warehouse", "shipping"} & set(operation["tags"])
    }
    templates = {
        "/api/waves/w-1": "/api/waves/{wave_id}",
        "/api/waves/w-1/release": "/api/waves/{wave_id}/release",
        "/api/waves/w-1/orders/ord-1/remove": "/api/waves/{wave_id}/orders/{order_id}/remove",
        "/api/pick-tasks/t-1/confirm": "/api/pick-tasks/{task_id}/confirm",
        "/api/pick-tasks/t-1/short": "/api/pick-tasks/{task_id}/short",
        "/api/orders/ord-1/pack": "/api/orders/{order_id}/pack",
        "/api/orders/ord-1/retry": "/api/orders/{order_id}/retry",
        "/api/shipments/SW123": "/api/shipments/{tracking_code}",
        "/api/shipments/SW123/label": "/api/shipments/{tracking_code}/label",
    }
    assert documented == {(m, templates.get(p, p)) for m, p, _ in ROUTES}
    for method, path in documented:
        responses = doc["paths"][path][method.lower()]["responses"]
        assert {"401", "403", "422", "503"} <= set(responses), (method, path)
    label = doc["paths"]["/api/shipments/{tracking_code}/label"]["get"]["responses"]["200"]["content"]
    assert set(label) == {"application/pdf"}
    address = doc["paths"]["/api/orders/{order_id}/shipping-address"]["put"]["responses"]
    assert {"200", "401", "404", "409", "422"} <= set(address)
    order_view = doc["components"]["schemas"]["OrderView"]["properties"]
    assert {"tracking_code", "carrier", "shipped_lines", "erp_document_number"} <= set(order_view)


@MODULE_LOOP
@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_a_customer_gets_403_and_a_stranger_401(
    floor: Floor, method: str, path: str, body: dict[str, Any] | None
) -> None:
    forbidden = await floor.http.request(method, path, json=body, headers=floor.auth("alice"))
    assert (forbidden.status_code, forbidden.json()["type"]) == (403, "StaffOnly")
    anonymous = await floor.http.request(method, path, json=body)
    assert anonymous.status_code == 401


@MODULE_LOOP
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/waves", {"max_orders": "5"}),
        ("/api/waves", {"max_orders": 0}),
        ("/api/waves", {"max_orders": 5, "priority": 1}),
        ("/api/pick-tasks/t-1/confirm", {**PICK, "quantity": "2"}),
        ("/api/pick-tasks/t-1/confirm", {**PICK, "quantity": -1}),
        ("/api/pick-tasks/t-1/confirm", {**PICK, "quantity": 1001}),
        ("/api/pick-tasks/t-1/confirm", {**PICK, "bin": "A"}),
        ("/api/pick-tasks/t-1/confirm", {k: v for k, v in PICK.items() if k != "location"}),
        ("/api/pick-tasks/t-1/confirm", {**PICK, "location": "a b"}),
        ("/api/orders/ord-1/pack", {"station": "PACK-1", "items": []}),
        ("/api/orders/ord-1/pack", {"station": "PACK-1", "items": [{"sku": "MUG-RED", "quantity": 0}]}),
        ("/api/orders/ord-1/pack", {"station": "PACK-1", "items": [{"sku": "MUG-RED", "quantity": True}]}),
    ],
)
async def test_strict_bodies(floor: Floor, path: str, body: dict[str, Any]) -> None:
    resp = await floor.http.post(path, json=body, headers=floor.auth("olivia"))
    assert (resp.status_code, resp.json()["type"]) == (422, "ValidationError"), resp.text


# -- waves -------------------------------------------------------------------------------
@MODULE_LOOP
async def test_plan_release_and_release_again(floor: Floor) -> None:
    planned = await floor.http.post("/api/waves", json={"max_orders": 5}, headers=floor.auth("olivia"))
    assert planned.status_code == 201, planned.text
    wave = planned.json()
    assert (wave["status"], wave["order_ids"], wave["counts"]["open"]) == ("PLANNED", ["ord-1", "ord-2"], 1)
    assert wave["tasks"][0]["task_id"] == "t-1"
    assert planned.headers["location"] == f"/api/waves/{wave['wave_id']}"
    description = await floor.temporal.get_workflow_handle(f"wave-{wave['wave_id']}").describe()
    assert description.workflow_type == WAVE_WORKFLOW_NAME

    removed = await floor.http.post(f"/api/waves/{wave['wave_id']}/orders/ord-2/remove", headers=floor.auth("olivia"))
    assert removed.status_code == 200, removed.text
    released = await floor.http.post(f"/api/waves/{wave['wave_id']}/release", headers=floor.auth("admin"))
    assert released.status_code == 200, released.text
    again = await floor.http.post(f"/api/waves/{wave['wave_id']}/release", headers=floor.auth("olivia"))
    assert (again.status_code, again.json()["type"]) == (409, ILLEGAL_WAVE_TRANSITION)
    assert "RELEASED" in again.json()["detail"]
    late = await floor.http.post(f"/api/waves/{wave['wave_id']}/orders/ord-1/remove", headers=floor.auth("olivia"))
    assert (late.status_code, late.json()["type"]) == (409, ILLEGAL_WAVE_TRANSITION)


@MODULE_LOOP
async def test_a_plan_without_waiting_orders_is_409_nothing_to_plan(floor: Floor) -> None:
    resp = await floor.http.post("/api/waves", json={"max_orders": 1}, headers=floor.auth("olivia"))
    assert (resp.status_code, resp.json()["type"]) == (409, "NothingToPlan")


@MODULE_LOOP
async def test_the_body_is_optional(floor: Floor) -> None:
    resp = await floor.http.post("/api/waves", headers=floor.auth("olivia"))
    assert resp.status_code == 201, resp.text


@MODULE_LOOP
async def test_unknown_waves_are_404(floor: Floor) -> None:
    release = await floor.http.post("/api/waves/nosuch/release", headers=floor.auth("olivia"))
    assert (release.status_code, release.json()["type"]) == (404, "WaveNotFound")
    read = await floor.http.get("/api/waves/nosuch", headers=floor.auth("olivia"))
    assert (read.status_code, read.json()["type"]) == (404, "WaveNotFound")


@MODULE_LOOP
async def test_list_waves_is_a_page(floor: Floor) -> None:
    resp = await floor.http.get(
        "/api/waves", params={"status": "DONE", "limit": 10, "offset": 20}, headers=floor.auth("olivia")
    )
    assert resp.status_code == 200, resp.text
    page = resp.json()
    assert set(page) == {"items", "total", "limit", "offset", "next_cursor"}
    assert (page["limit"], page["offset"], page["items"][0]["wave_id"]) == (10, 20, "w-1")
    assert {"path": "/waves", "limit": 10, "offset": 20, "status": "DONE"} in floor.seen
    bad = await floor.http.get("/api/waves", params={"status": "NOPE"}, headers=floor.auth("olivia"))
    assert bad.status_code == 422


# -- picking -----------------------------------------------------------------------------
@MODULE_LOOP
async def test_next_task_is_the_pickers_or_204(floor: Floor) -> None:
    task = await floor.http.get("/api/pick-tasks/next", params={"wave_id": "w-1"}, headers=floor.auth("olivia"))
    assert task.status_code == 200
    assert task.json()["assigned_to"] == "olivia"
    assert {"path": "/tasks/next", "picker": "olivia", "wave_id": "w-1"} in floor.seen
    none = await floor.http.get("/api/pick-tasks/next", params={"wave_id": "drained"}, headers=floor.auth("olivia"))
    assert (none.status_code, none.content) == (204, b"")


@MODULE_LOOP
async def test_confirm_maps_every_refusal_to_409_with_its_type(floor: Floor) -> None:
    await floor.start(PPS_WORKFLOW_NAME, "ord-1", pps_workflow_id("ord-1"))
    olivia = floor.auth("olivia")
    wrong_bin = await floor.http.post(
        "/api/pick-tasks/t-1/confirm", json={**PICK, "location": "B-09-09-9"}, headers=olivia
    )
    assert (wrong_bin.status_code, wrong_bin.json()["type"]) == (409, SCAN_MISMATCH)
    assert "B-09-09-9" in wrong_bin.json()["detail"]
    too_many = await floor.http.post("/api/pick-tasks/t-1/confirm", json={**PICK, "quantity": 3}, headers=olivia)
    assert (too_many.status_code, too_many.json()["type"]) == (409, QUANTITY_EXCEEDS_TASK)
    unknown = await floor.http.post("/api/pick-tasks/t-404/confirm", json=PICK, headers=olivia)
    assert (unknown.status_code, unknown.json()["type"]) == (404, "TaskNotFound")
    not_short = await floor.http.post("/api/pick-tasks/t-1/short", json=PICK, headers=olivia)
    assert (not_short.status_code, not_short.json()["type"]) == (422, "NotAShortPick")

    nothing_picked = await floor.http.post(
        "/api/orders/ord-1/pack",
        json={"station": "PACK-1", "items": [{"sku": "MUG-RED", "quantity": 2}]},
        headers=olivia,
    )
    assert (nothing_picked.status_code, nothing_picked.json()["type"]) == (409, NOT_PICKED)

    short = await floor.http.post("/api/pick-tasks/t-1/short", json={**PICK, "quantity": 1}, headers=olivia)
    assert short.status_code == 200, short.text
    assert short.json() == {
        "task_id": "t-1",
        "status": "SHORT",
        "picked_quantity": 1,
        "short_quantity": 1,
        "new_task_ids": ["t-9"],
    }
    picked = await floor.http.post("/api/pick-tasks/t-1/confirm", json=PICK, headers=olivia)
    assert (picked.status_code, picked.json()["status"], picked.json()["short_quantity"]) == (200, "PICKED", 0)


@MODULE_LOOP
async def test_a_pick_before_the_order_is_on_the_floor_is_409_not_ready(floor: Floor) -> None:
    resp = await floor.http.post("/api/pick-tasks/t-early/confirm", json=PICK, headers=floor.auth("olivia"))
    assert (resp.status_code, resp.json()["type"], resp.headers["retry-after"]) == (409, "NotReady", "1")


@MODULE_LOOP
async def test_a_pick_after_the_order_left_the_floor_is_409_task_not_open(floor: Floor) -> None:
    await floor.start(PPS_WORKFLOW_NAME, "done-1", pps_workflow_id("done-1"))
    await floor.temporal.get_workflow_handle(pps_workflow_id("done-1")).result()
    resp = await floor.http.post("/api/pick-tasks/t-done/confirm", json=PICK, headers=floor.auth("olivia"))
    assert (resp.status_code, resp.json()["type"]) == (409, "TaskNotOpen")


# -- packing -----------------------------------------------------------------------------
@MODULE_LOOP
async def test_pack_mismatch_missing_and_packed(floor: Floor) -> None:
    await floor.start(PPS_WORKFLOW_NAME, "ord-2", pps_workflow_id("ord-2"))
    olivia = floor.auth("olivia")
    handle = floor.temporal.get_workflow_handle(pps_workflow_id("ord-2"))
    await handle.execute_update("confirm_pick", PickScan(picker="olivia", task_id="t-1", **PICK))  # type: ignore[arg-type]

    def pack(*items: tuple[str, int]) -> dict[str, Any]:
        return {"station": "PACK-1", "items": [{"sku": s, "quantity": q} for s, q in items]}

    extra = await floor.http.post("/api/orders/ord-2/pack", json=pack(("MUG-RED", 2), ("PEN-BLK", 1)), headers=olivia)
    assert (extra.status_code, extra.json()["type"]) == (409, PACK_MISMATCH)
    assert extra.json()["details"] == [{"extra": ["PEN-BLK"]}]
    missing = await floor.http.post("/api/orders/ord-2/pack", json=pack(("MUG-RED", 1)), headers=olivia)
    assert (missing.status_code, missing.json()["type"]) == (409, PACK_MISMATCH)
    assert missing.json()["missing"] == [{"sku": "MUG-RED", "quantity": 1}]
    # The same SKU scanned twice counts once, with both quantities.
    packed = await floor.http.post("/api/orders/ord-2/pack", json=pack(("MUG-RED", 1), ("MUG-RED", 1)), headers=olivia)
    assert packed.status_code == 200, packed.text
    assert packed.json() == {"order_id": "ord-1", "status": "PACKED", "carton": "S"}


@MODULE_LOOP
async def test_pack_without_a_pick_pack_ship_is_409_not_picked(floor: Floor) -> None:
    resp = await floor.http.post(
        "/api/orders/nowhere/pack",
        json={"station": "PACK-1", "items": [{"sku": "MUG-RED", "quantity": 1}]},
        headers=floor.auth("olivia"),
    )
    assert (resp.status_code, resp.json()["type"]) == (409, NOT_PICKED)


# -- the address -------------------------------------------------------------------------
@MODULE_LOOP
async def test_the_owner_changes_the_address_until_packed(floor: Floor) -> None:
    await floor.start(ORDER_WORKFLOW_NAME, "ord-1", "order-ord-1")
    await floor.start(ORDER_WORKFLOW_NAME, "ord-packed", "order-ord-packed")
    body = {"shipping_address": ADDRESS}
    changed = await floor.http.put("/api/orders/ord-1/shipping-address", json=body, headers=floor.auth("alice"))
    assert changed.status_code == 200, changed.text
    view = changed.json()
    assert (view["order_id"], view["tracking_code"], view["carrier"], view["shipped_lines"]) == (
        "ord-1",
        None,
        None,
        None,
    )
    assert view["erp_document_number"] == "0000500001"
    locked = await floor.http.put("/api/orders/ord-packed/shipping-address", json=body, headers=floor.auth("olivia"))
    assert (locked.status_code, locked.json()["type"]) == (409, ADDRESS_LOCKED)
    someone_elses = await floor.http.put("/api/orders/nosuch/shipping-address", json=body, headers=floor.auth("alice"))
    assert someone_elses.status_code == 404
    sloppy = await floor.http.put(
        "/api/orders/ord-1/shipping-address",
        json={"shipping_address": {**ADDRESS, "country": "de"}},
        headers=floor.auth("alice"),
    )
    assert sloppy.status_code == 422


# -- shipping ----------------------------------------------------------------------------
@MODULE_LOOP
async def test_shipments_label_and_carriers(floor: Floor) -> None:
    olivia = floor.auth("olivia")
    page = (await floor.http.get("/api/shipments", params={"limit": 5}, headers=olivia)).json()
    assert (page["limit"], page["offset"], page["next_cursor"], page["total"]) == (5, 0, "c1", None)
    assert page["items"][0]["tracking_code"] == "SW123"
    following = (await floor.http.get("/api/shipments", params={"cursor": "c1"}, headers=olivia)).json()
    assert following["next_cursor"] is None
    one = await floor.http.get("/api/shipments/SW123", headers=olivia)
    assert (one.status_code, one.json()["carrier"]) == (200, "SWIFT")
    missing = await floor.http.get("/api/shipments/NOPE", headers=olivia)
    assert (missing.status_code, missing.json()["type"]) == (404, "ShipmentNotFound")

    label = await floor.http.get("/api/shipments/SW123/label", headers=olivia)
    assert label.status_code == 200
    assert label.headers["content-type"] == "application/pdf"
    assert label.content == PDF_BYTES
    no_label = await floor.http.get("/api/shipments/NOPE/label", headers=olivia)
    assert (no_label.status_code, no_label.json()["type"]) == (404, "ShipmentNotFound")
    not_pdf = await floor.http.get("/api/shipments/HTML/label", headers=olivia)
    assert (not_pdf.status_code, not_pdf.json()["type"]) == (502, "BadGateway")

    carriers = (await floor.http.get("/api/carriers", headers=olivia)).json()
    assert [(c["carrier"], c["state"]) for c in carriers] == [("SWIFT", "closed"), ("PARCELNET", "open")]
