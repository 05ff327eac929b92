"""The master-data import's state, for operators: ``GET /api/erp/sync`` and ``paklog erp sync status``.

Three sources, read at once: Temporal (the ``erp-sync`` Schedule, described;
the newest ``ErpSync`` run, listed, and its result once it closed), the
services that own the watermarks (inventory for materials and stock,
identity for customers: ``GET /erp/watermarks``) and the ERP itself for the
lag (its newest change of each entity, minus the watermark). The ERP is an
outside system: when it does not answer, the lag is null and the rest still
answers; a service or Temporal that does not answer is a 503 as elsewhere.

:func:`sync_now` runs the import now, for ``POST /api/erp/sync`` and
``paklog erp sync now`` alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import httpx
from temporalio.client import (
    Client,
    ScheduleActionExecution,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionResult,
    ScheduleDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.erp_sync import ENTITY_SETS
from common.errors import Unavailable
from common.logging import get_logger
from common.service_auth import service_headers
from gateway.clients import ServiceClients
from gateway.erp_models import (
    EntitySyncView,
    ErpSyncView,
    LastRunView,
    ScheduleView,
    SyncNowView,
    SyncSummaryView,
    WatermarkRecord,
    WatermarkView,
)
from workflows.erp_types import (
    CUSTOMERS,
    ENTITIES,
    ERP_SCHEDULE_ID,
    ERP_SYNC_RUN_ID,
    ERP_SYNC_WORKFLOW_NAME,
    MATERIALS,
    STOCK,
    ErpSyncInput,
    ErpSyncResult,
)

log = get_logger("paklog.gateway.erp")

#: The run ``sync_now`` starts itself when there is no Schedule: one id, so two calls never start two runs.
SYNC_NOW_ID = f"{ERP_SYNC_RUN_ID}-now"
#: How long :func:`sync_now` waits for the Schedule to start the run it triggered (the server starts it; no
#: worker is needed), and how often it looks.
TRIGGER_WAIT_SECONDS = 10.0
TRIGGER_POLL_SECONDS = 0.2
# Each call to Temporal: an unreachable server is a 503 after this, not a request left hanging.
_RPC_TIMEOUT = timedelta(seconds=10)


async def schedule_state(client: Client) -> ScheduleView | None:
    """The ``erp-sync`` Schedule: paused, interval, latest and next run; None when there is none."""
    try:
        described = await client.get_schedule_handle(ERP_SCHEDULE_ID).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    intervals = described.schedule.spec.intervals
    started = [action.started_at for action in described.info.recent_actions]
    upcoming = described.info.next_action_times
    return ScheduleView(
        paused=described.schedule.state.paused,
        interval_seconds=intervals[0].every.total_seconds() if intervals else None,
        last_run_at=max(started) if started else None,
        next_run_at=None if described.schedule.state.paused or not upcoming else upcoming[0],
    )


async def latest_run(client: Client) -> LastRunView | None:
    """The newest ErpSync: a running one first (the visibility store's order), else the latest to close."""
    async for execution in client.list_workflows(f"WorkflowType = '{ERP_SYNC_WORKFLOW_NAME}'", limit=1):
        status = execution.status or WorkflowExecutionStatus.RUNNING
        view = LastRunView(
            workflow_id=execution.id,
            status=status.name,
            started_at=execution.start_time,
            closed_at=execution.close_time,
            summary=None,
            error=None,
        )
        if status == WorkflowExecutionStatus.RUNNING:
            return view
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id, result_type=ErpSyncResult)
        try:
            result = await handle.result(follow_runs=False)
        except WorkflowFailureError as failed:
            view.error = str(failed.cause or failed)
        else:
            view.summary = SyncSummaryView.model_validate(dataclasses.asdict(result))
        return view
    return None


async def _erp_page(
    clients: ServiceClients, erp_url: str, entity: str, after: WatermarkRecord | None, **params: str
) -> dict[str, Any] | None:
    """One OData read of ``entity``'s rows changed after ``after`` (all without); None when the ERP fails."""
    collection, _ = ENTITY_SETS[entity]
    query = dict(params)
    if after is not None:
        query["$filter"] = f"LastChangedAt gt {after.changed_at.isoformat()}"
    headers = service_headers(clients.urls.service_token.get_secret_value())
    try:
        resp = await clients.http.get(f"{erp_url.rstrip('/')}/odata/{collection}", params=query, headers=headers)
        body = resp.json() if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    return body if isinstance(body, dict) else None


async def erp_count(clients: ServiceClients, erp_url: str, entity: str, after: WatermarkRecord | None) -> int | None:
    """How many rows of ``entity`` changed after the watermark (all of them without one); None if unknown."""
    body = await _erp_page(clients, erp_url, entity, after, **{"$top": "1", "$count": "true"})
    count = body.get("@odata.count") if body else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


async def erp_lag(clients: ServiceClients, erp_url: str, entity: str, watermark: WatermarkRecord) -> float | None:
    """Seconds from the watermark to the ERP's newest change of ``entity`` (0 when none is newer).

    Two reads: how many rows changed after the watermark (``$count``), then
    the last of them (the ERP orders by ``LastChangedAt``). None when the ERP
    does not answer as its contract says.
    """
    behind = await erp_count(clients, erp_url, entity, watermark)
    if not behind:
        return None if behind is None else 0.0
    body = await _erp_page(clients, erp_url, entity, watermark, **{"$top": "1", "$skip": str(behind - 1)})
    try:
        rows = body["value"] if body else None
        if not rows:
            return None if rows is None else 0.0
        newest = datetime.fromisoformat(str(rows[-1]["LastChangedAt"]).replace("Z", "+00:00"))
        return max(0.0, (newest - watermark.changed_at).total_seconds())
    except (KeyError, TypeError, ValueError):
        return None


async def entity_states(clients: ServiceClients, erp_url: str) -> list[EntitySyncView]:
    """Each entity's watermark (from the service that owns it) and its lag behind the ERP."""
    inventory, identity = await asyncio.gather(
        clients.erp_watermarks(clients.urls.inventory_url), clients.erp_watermarks(clients.urls.identity_url)
    )
    stored = {MATERIALS: inventory.get(MATERIALS), STOCK: inventory.get(STOCK), CUSTOMERS: identity.get(CUSTOMERS)}

    async def lag(entity: str) -> float | None:
        watermark = stored[entity]
        return None if watermark is None else await erp_lag(clients, erp_url, entity, watermark)

    lags = await asyncio.gather(*(lag(entity) for entity in ENTITIES))
    views = []
    for entity, lag_seconds in zip(ENTITIES, lags, strict=True):
        watermark = stored[entity]
        views.append(
            EntitySyncView(
                entity=entity,
                watermark=WatermarkView(changed_at=watermark.changed_at, key=watermark.key) if watermark else None,
                rows=watermark.rows if watermark else 0,
                lag_seconds=lag_seconds,
            )
        )
    return views


async def sync_state(client: Client, clients: ServiceClients, erp_url: str) -> ErpSyncView:
    """The whole answer of ``GET /api/erp/sync``."""
    schedule, entities, last_run = await asyncio.gather(
        schedule_state(client), entity_states(clients, erp_url), latest_run(client)
    )
    return ErpSyncView(schedule=schedule, entities=entities, last_run=last_run)


# -- sync now ----------------------------------------------------------------------------------
def _started_ids(actions: Iterable[ScheduleActionResult | ScheduleActionExecution]) -> list[str]:
    """The workflow ids of a Schedule's actions (running ones, or the recent results' actions)."""
    found = []
    for action in actions:
        started = action.action if isinstance(action, ScheduleActionResult) else action
        if isinstance(started, ScheduleActionExecutionStartWorkflow):
            found.append(started.workflow_id)
    return found


async def running_sync(client: Client) -> str | None:
    """The id of an ``ErpSync`` running now, whoever started it (the Schedule, a backfill, ``sync now``)."""
    query = f"WorkflowType = '{ERP_SYNC_WORKFLOW_NAME}' AND ExecutionStatus = 'Running'"
    async for execution in client.list_workflows(query, limit=1, rpc_timeout=_RPC_TIMEOUT):
        return execution.id
    return None


async def _describe(client: Client) -> ScheduleDescription | None:
    try:
        return await client.get_schedule_handle(ERP_SCHEDULE_ID).describe(rpc_timeout=_RPC_TIMEOUT)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def sync_now(
    client: Client, task_queue: str, *, trigger_wait_seconds: float = TRIGGER_WAIT_SECONDS
) -> SyncNowView:
    """Run the master-data import now, without waiting for it to end; never two runs at once.

    With the ``erp-sync`` Schedule, trigger it (its run is the one the
    Schedule would start: its id, its overlap policy) and answer the run it
    started. Without one (``PAKLOG_ERP_SYNC_INTERVAL_SECONDS=0``), start an
    ``ErpSync`` under :data:`SYNC_NOW_ID`, which the server never runs twice at
    once. Either way, a run already going (the Schedule's, a backfill, an
    earlier call's) is answered instead, ``started`` false.

    Raises:
        Unavailable: ``SyncNotStarted`` when the Schedule did not start the
            triggered run within ``trigger_wait_seconds``.
        RPCError: Temporal does not answer (the gateway's 503 ``TemporalUnavailable``).
    """
    described = await _describe(client)
    running = _started_ids(described.info.running_actions) if described is not None else []
    already = running[0] if running else await running_sync(client)
    if already is not None:
        log.info("erp sync already running", workflow_id=already)
        return SyncNowView(workflow_id=already, started=False)
    if described is None:
        return await _start_own_run(client, task_queue)
    schedule = client.get_schedule_handle(ERP_SCHEDULE_ID)
    seen = set(_started_ids(described.info.recent_actions))
    await schedule.trigger(rpc_timeout=_RPC_TIMEOUT)
    for _ in range(max(1, int(trigger_wait_seconds / TRIGGER_POLL_SECONDS))):
        now = await schedule.describe(rpc_timeout=_RPC_TIMEOUT)
        fresh = [w for w in _started_ids(now.info.running_actions) if w not in seen] or [
            w for w in _started_ids(now.info.recent_actions) if w not in seen
        ]
        if fresh:
            log.info("erp sync triggered", workflow_id=fresh[-1])
            return SyncNowView(workflow_id=fresh[-1], started=True)
        await asyncio.sleep(TRIGGER_POLL_SECONDS)
    log.warning("erp sync trigger started no run", waited_seconds=trigger_wait_seconds)
    raise Unavailable("the erp-sync schedule did not start a run; try again later", type="SyncNotStarted")


async def _start_own_run(client: Client, task_queue: str) -> SyncNowView:
    """No Schedule: an ``ErpSync`` of its own under one id (a second call meanwhile finds it running)."""
    try:
        await client.start_workflow(
            ERP_SYNC_WORKFLOW_NAME,
            ErpSyncInput(),
            id=SYNC_NOW_ID,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            rpc_timeout=_RPC_TIMEOUT,
        )
    except WorkflowAlreadyStartedError:
        log.info("erp sync already running", workflow_id=SYNC_NOW_ID)
        return SyncNowView(workflow_id=SYNC_NOW_ID, started=False)
    log.info("erp sync started without a schedule", workflow_id=SYNC_NOW_ID)
    return SyncNowView(workflow_id=SYNC_NOW_ID, started=True)
