"""The correlation id through Temporal (common.tracing), in the time-skipping test server.

A start, an update and a signal each carry their caller's id; the workflow hands
the current one to every activity, local activity and child workflow it
schedules, where it is current for the activity's HTTP calls and bound for its
log lines. A workflow started without one uses its run id. The interceptor adds
headers only, so the history replays with and without it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

with workflow.unsafe.imports_passed_through():
    import structlog

    from common.correlation import current_request_id, request_id_context, run_request_id
    from common.tracing import TEMPORAL_HEADER, ClientTracing, WorkerTracing, decode, is_unexpected
    from tests.workflows.fakes import time_skipping_env

#: (step, the current id, the id bound for log lines, workflow_id bound for log lines), per activity run.
SEEN: list[tuple[str, str | None, str | None, str | None]] = []


@activity.defn(name="trace.echo")
async def echo(step: str) -> str:
    bound = structlog.contextvars.get_contextvars()
    SEEN.append((step, current_request_id(), bound.get("request_id"), bound.get("workflow_id")))
    return step


#: As the worker runs them (paklog.worker.build_worker): our own modules pass through the sandbox.
RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("activities", "common", "pydantic")
)
TIMEOUT = timedelta(seconds=10)


@workflow.defn(name="TraceChild")
class TraceChild:
    @workflow.run
    async def run(self, tag: str) -> str:
        return await workflow.execute_activity(echo, f"{tag}:child", start_to_close_timeout=TIMEOUT)


@workflow.defn(name="TraceParent")
class TraceParent:
    def __init__(self) -> None:
        self.proceed = False
        self.finish = False

    @workflow.run
    async def run(self, tag: str) -> None:
        await workflow.execute_activity(echo, f"{tag}:start", start_to_close_timeout=TIMEOUT)
        await workflow.execute_local_activity(echo, f"{tag}:local", start_to_close_timeout=TIMEOUT)
        await workflow.execute_child_workflow(TraceChild.run, tag, id=f"{workflow.info().workflow_id}-child")
        await workflow.wait_condition(lambda: self.proceed)
        await workflow.execute_activity(echo, f"{tag}:after-update", start_to_close_timeout=TIMEOUT)
        await workflow.wait_condition(lambda: self.finish)
        await workflow.execute_activity(echo, f"{tag}:after-signal", start_to_close_timeout=TIMEOUT)

    @workflow.update
    async def go_on(self) -> str:
        self.proceed = True
        return "ok"

    @workflow.signal
    def done(self) -> None:
        self.finish = True

    @workflow.query
    def ready(self) -> bool:
        return self.proceed


def _seen(tag: str) -> dict[str, tuple[str | None, str | None, str | None]]:
    return {step.split(":", 1)[1]: (rid, bound, wid) for step, rid, bound, wid in SEEN if step.startswith(f"{tag}:")}


async def child_done(client: Client, tag: str) -> None:
    """Wait until the parent's first steps (its child is the last of them) are over."""
    for _ in range(400):
        try:
            await client.get_workflow_handle(f"trace-{tag}-child").result()
            return
        except RPCError:  # not started yet
            await asyncio.sleep(0.05)
    raise AssertionError("the child workflow never ran")


@asynccontextmanager
async def traced(client: Client) -> AsyncIterator[tuple[Client, str]]:
    """A client with the gateway's interceptor, and a worker with the worker's, on a fresh task queue."""
    config = client.config()
    config["interceptors"] = [ClientTracing()]
    traced_client = Client(**config)
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[TraceParent, TraceChild],
        activities=[echo],
        interceptors=[WorkerTracing()],
        workflow_runner=RUNNER,
    ):
        yield traced_client, task_queue


async def test_start_update_and_signal_ids_reach_activities_and_children() -> None:
    tag = uuid.uuid4().hex[:8]
    async with time_skipping_env() as env, traced(env.client) as (client, tq):
        with request_id_context("rid-start"):
            handle = await client.start_workflow(
                TraceParent.run, tag, id=f"trace-{tag}", task_queue=tq, memo={"customer_id": "alice"}
            )
        await child_done(client, tag)
        with request_id_context("rid-update"):
            assert await handle.execute_update(TraceParent.go_on) == "ok"
            assert await handle.query(TraceParent.ready) is True  # a query changes nothing
        with request_id_context("rid-signal"):
            await handle.signal(TraceParent.done)
        await handle.result()
        memo = await (await handle.describe()).memo()
        history = await handle.fetch_history()
        scheduled = [
            decode(event.activity_task_scheduled_event_attributes.header.fields)
            for event in history.events
            if event.HasField("activity_task_scheduled_event_attributes")
        ]
    assert memo == {"customer_id": "alice", "request_id": "rid-start"}
    seen = _seen(tag)
    assert seen["start"] == ("rid-start", "rid-start", f"trace-{tag}")
    assert seen["local"] == ("rid-start", "rid-start", f"trace-{tag}")
    assert seen["child"] == ("rid-start", "rid-start", f"trace-{tag}-child")
    assert seen["after-update"] == ("rid-update", "rid-update", f"trace-{tag}")
    assert seen["after-signal"] == ("rid-signal", "rid-signal", f"trace-{tag}")
    # The activities' headers are in the history, as the worker sent them.
    assert scheduled == ["rid-start", "rid-update", "rid-signal"]
    started = history.events[0].workflow_execution_started_event_attributes
    assert run_request_id(started.original_execution_run_id) == "rid-signal"  # for a failed task's record
    # Headers are no commands: the history replays, with the interceptor and without it.
    workflows = [TraceParent, TraceChild]
    await Replayer(workflows=workflows, interceptors=[WorkerTracing()], workflow_runner=RUNNER).replay_workflow(history)
    await Replayer(workflows=workflows, workflow_runner=RUNNER).replay_workflow(history)


async def test_update_with_start_carries_the_id_into_memo_and_workflow() -> None:
    tag = uuid.uuid4().hex[:8]
    async with time_skipping_env() as env, traced(env.client) as (client, tq):
        start = WithStartWorkflowOperation(
            TraceParent.run,
            tag,
            id=f"trace-{tag}",
            task_queue=tq,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        with request_id_context("rid-checkout"):
            assert await client.execute_update_with_start_workflow(TraceParent.go_on, start_workflow_operation=start)
        handle = await start.workflow_handle()
        await handle.signal(TraceParent.done)  # no id current: the workflow keeps the one it has
        await handle.result()
        memo = await (await handle.describe()).memo()
    assert memo == {"request_id": "rid-checkout"}
    assert {step: ids[0] for step, ids in _seen(tag).items()} == {
        "start": "rid-checkout",
        "local": "rid-checkout",
        "child": "rid-checkout",
        "after-update": "rid-checkout",
        "after-signal": "rid-checkout",
    }


async def test_a_workflow_started_without_an_id_uses_its_run_id() -> None:
    tag = uuid.uuid4().hex[:8]
    async with time_skipping_env() as env, traced(env.client) as (client, tq):
        handle = await client.start_workflow(TraceParent.run, tag, id=f"trace-{tag}", task_queue=tq)
        await handle.execute_update(TraceParent.go_on)
        await handle.signal(TraceParent.done)
        await handle.result()
        memo = await (await handle.describe()).memo()
        run_id = (await handle.describe()).run_id
    assert memo == {}
    ids = {ids[0] for ids in _seen(tag).values()}
    assert ids == {run_id.replace("-", "")}  # the child and the local activity too


def test_only_bugs_are_unexpected() -> None:
    import httpx
    from temporalio.exceptions import ApplicationError

    from activities.base import ServiceCallError

    assert is_unexpected(RuntimeError("boom"))
    assert is_unexpected(KeyError("sku"))
    assert not is_unexpected(ApplicationError("declined", type="PaymentDeclined", non_retryable=True))
    assert not is_unexpected(httpx.ConnectError("refused"))
    assert not is_unexpected(ServiceCallError("POST /reservations -> 503 Unavailable"))
    assert TEMPORAL_HEADER == "paklog-request-id"
