"""The master-data import's state, for operators: ``GET /api/erp/sync`` and ``paklog erp sync status``.

Three sources, read at once: Temporal (the ``erp-sync`` Schedule, described;
the newest ``ErpSync`` run, listed, and its result once it closed), the
services that own the watermarks (inventory for materials and stock,
identity for customers: ``GET /erp/watermarks``) and the ERP itself for the
lag (its newest change of each entity, minus the watermark). The ERP is an
outside system: when it does not answer, the lag is null and the rest still
answers; a service or Temporal that does not answer is a 503 as elsewhere.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import Any

import httpx
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from activities.erp_sync import ENTITY_SETS
from common.service_auth import service_headers
from gateway.clients import ServiceClients
from gateway.erp_models import (
    EntitySyncView,
    ErpSyncView,
    LastRunView,
    ScheduleView,
    SyncSummaryView,
    WatermarkRecord,
    WatermarkView,
)
from workflows.erp_types import (
    CUSTOMERS,
    ENTITIES,
    ERP_SCHEDULE_ID,
    ERP_SYNC_WORKFLOW_NAME,
    MATERIALS,
    STOCK,
    ErpSyncResult,
)


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
