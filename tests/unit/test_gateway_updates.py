"""The gateway's updates against a workflow whose workflow task keeps failing (a real dev server).

From the third failed attempt Temporal refuses every update to such a workflow
with ``FAILED_PRECONDITION`` (``WorkflowNotReady``), although it is running.
That is not an ending: ``run_update`` asks again until its deadline, then
answers ``WorkflowBusy`` (503, ``Retry-After``), and a pick scan answers
``NotReady`` (409, ``Retry-After``) the picker retries, never "has left picking".
An update it never accepted changed nothing.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from common.errors import Conflict
from common.security import Principal
from gateway import warehouse
from gateway.updates import GONE, NOT_READY, Done, WorkflowBusy, run_update
from gateway.warehouse import NotReady
from gateway.warehouse_models import PickScanRequest
from workflows.warehouse_types import PPS_WORKFLOW_NAME, TASK_NOT_OPEN, PickConfirmed, PickScan, pps_workflow_id

pytestmark = pytest.mark.asyncio(loop_scope="module")

DEV_SERVER = Path(sys.executable).parent / "temporal"

#: Workflow ids whose workflow tasks fail (the stand-in's "bug"); the test heals one by removing it.
BROKEN: set[str] = set()


@workflow.defn(name=PPS_WORKFLOW_NAME)
class FlakyPickPackShip:
    """Takes ``confirm_pick`` updates; every workflow task fails while its id is in ``BROKEN``."""

    def __init__(self) -> None:
        self.picks: list[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.done)
        return self.picks

    @workflow.signal
    def poke(self) -> None:
        """Anything that makes a workflow task."""
        if workflow.info().workflow_id in BROKEN:
            raise RuntimeError("a bug in the workflow: its task fails")

    @workflow.update
    async def confirm_pick(self, scan: PickScan) -> PickConfirmed:
        self.picks.append(scan.task_id)
        return PickConfirmed(task_id=scan.task_id, status="PICKED", picked_quantity=scan.quantity, short_quantity=0)

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@dataclass
class Env:
    client: Client
    task_queue: str


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def env() -> AsyncIterator[Env]:
    server = await WorkflowEnvironment.start_local(dev_server_existing_path=str(DEV_SERVER))
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    try:
        async with Worker(
            server.client,
            task_queue=task_queue,
            workflows=[FlakyPickPackShip],
            workflow_runner=UnsandboxedWorkflowRunner(),  # BROKEN is read from outside, on purpose
        ):
            yield Env(server.client, task_queue)
    finally:
        await server.shutdown()


async def task_attempt(handle: WorkflowHandle[Any, Any]) -> int:
    """The attempt of the workflow's pending workflow task (0: none pending)."""
    described = await handle.describe()
    pending = described.raw_description.pending_workflow_task
    return pending.attempt if described.raw_description.HasField("pending_workflow_task") else 0


async def broken_workflow(env: Env, order_id: str) -> WorkflowHandle[Any, Any]:
    """A running PickPackShip stand-in whose workflow task has failed twice (its third attempt is pending)."""
    handle = await env.client.start_workflow(
        FlakyPickPackShip.run, id=pps_workflow_id(order_id), task_queue=env.task_queue
    )
    BROKEN.add(handle.id)
    await handle.signal(FlakyPickPackShip.poke)
    for _ in range(300):
        if await task_attempt(handle) >= 3:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the workflow task never failed twice")
    # The fault landed: Temporal itself refuses updates to it now, running as it is.
    with pytest.raises(RPCError) as refused:
        await handle.execute_update(FlakyPickPackShip.confirm_pick, PickScan("probe", "A", "SKU", "", 1, "p"))
    assert refused.value.status == NOT_READY
    assert refused.value.status not in GONE
    status = (await handle.describe()).status
    assert status is not None
    assert status.name == "RUNNING"
    return handle


def scan_of(task_id: str) -> PickScan:
    return PickScan(task_id=task_id, location="A-01-01-1", sku="MUG-RED", lot="", quantity=1, picker="olivia")


async def test_the_same_update_goes_through_once_the_workflow_task_recovers(env: Env) -> None:
    handle = await broken_workflow(env, f"o-{uuid.uuid4().hex[:12]}")
    sent = asyncio.create_task(
        run_update(handle, "confirm_pick", scan_of("t-2"), wait_seconds=30, result_type=PickConfirmed)
    )
    await asyncio.sleep(1.0)
    assert not sent.done()  # still asking
    BROKEN.discard(handle.id)  # the bug is fixed (a new worker build, a recovered service)
    done = await sent
    assert isinstance(done, Done)
    assert done.value.task_id == "t-2"
    await handle.signal(FlakyPickPackShip.finish)
    assert await handle.result() == ["t-2"]  # applied exactly once


@dataclass
class _Task:
    order_id: str
    quantity: int = 1


class _Clients:
    """The one warehouse read ``confirm_pick`` makes: the task's order."""

    def __init__(self, order_id: str) -> None:
        self.order_id = order_id

    async def task(self, task_id: str) -> _Task:
        return _Task(order_id=self.order_id)


OLIVIA = Principal(username="olivia", user_id="u-olivia", role="operator", email="olivia@example.com", name="Olivia")
SCAN = PickScanRequest(location="A-01-01-1", sku="MUG-RED", lot=None, quantity=1)


async def test_a_busy_workflow_answers_workflow_busy_a_pick_scan_not_ready_and_an_ended_one_task_not_open(
    env: Env,
) -> None:
    order_id = f"o-{uuid.uuid4().hex[:12]}"
    handle = await broken_workflow(env, order_id)
    with pytest.raises(WorkflowBusy) as busy:
        await run_update(handle, "confirm_pick", scan_of("t-1"), wait_seconds=1.5, result_type=PickConfirmed)
    assert busy.value.status_code == 503
    assert busy.value.headers["Retry-After"] == "1"

    clients: Any = _Clients(order_id)
    with pytest.raises(NotReady) as not_ready:
        await warehouse.confirm_pick(env.client, clients, wait_seconds=1.0, principal=OLIVIA, task_id="t-3", scan=SCAN)
    assert not_ready.value.status_code == 409
    assert not_ready.value.type == "NotReady"
    assert not_ready.value.headers["Retry-After"] == "1"
    assert "has left picking" not in not_ready.value.detail

    BROKEN.discard(handle.id)
    await handle.signal(FlakyPickPackShip.finish)
    assert await handle.result() == []  # neither refused update was applied
    # Now it has ended for real: Temporal says NOT_FOUND, and the scan is refused for good, naming the ending.
    with pytest.raises(RPCError) as gone:
        await handle.execute_update(FlakyPickPackShip.confirm_pick, scan_of("probe"))
    assert gone.value.status == RPCStatusCode.NOT_FOUND
    with pytest.raises(Conflict) as ended:
        await warehouse.confirm_pick(env.client, clients, wait_seconds=1.0, principal=OLIVIA, task_id="t-4", scan=SCAN)
    assert ended.value.type == TASK_NOT_OPEN
    assert "has left picking (its pick-pack-ship completed)" in str(ended.value)
