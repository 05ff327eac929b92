"""``/api/erp/sync``: the master-data import's state, and running it now (operators and admins; a customer gets
403 ``StaffOnly``, a partner 403 ``PartnerToken``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from temporalio.client import Client

from gateway import erp
from gateway.auth import StaffDep
from gateway.clients import ServiceClients
from gateway.erp_models import ErpSyncView, SyncNowView
from gateway.errors import error_responses
from gateway.settings import GatewaySettings

router = APIRouter(prefix="/api/erp", tags=["erp"], responses=error_responses(401, 403, 502, 503))


@router.get("/sync", response_model=ErpSyncView)
async def sync_state(request: Request, _: StaffDep) -> ErpSyncView:
    """The ``erp-sync`` Schedule, each entity's watermark and lag behind the ERP, and the newest run.

    Runs are ``ErpSync`` workflows: the Schedule's (``erp-sync-run-<time>``),
    ``paklog erp sync now`` and backfills (``erp-backfill-<time>``). The lag is
    null when the ERP does not answer; a service or Temporal that does not is 503.
    """
    clients: ServiceClients = request.app.state.clients
    temporal: Client = request.app.state.temporal
    settings: GatewaySettings = request.app.state.settings
    return await erp.sync_state(temporal, clients, settings.erp_url)


@router.post(
    "/sync",
    status_code=202,
    response_model=SyncNowView,
    responses={202: {"description": "The run going now: started by this call, or already going (`started` false)"}},
)
async def sync_now(request: Request, _: StaffDep) -> SyncNowView:
    """Run the import now, as ``paklog erp sync now`` does, without waiting for it to end.

    Triggers the ``erp-sync`` Schedule (its run: ``erp-sync-run-<time>``), or
    without a Schedule starts an ``ErpSync`` of its own (``erp-sync-run-now``).
    A run already going (the Schedule's, a backfill, an earlier call's) is
    never started twice: its id is answered with ``started`` false. Follow the
    run with ``GET /api/erp/sync``. Temporal not answering is 503
    ``TemporalUnavailable``; the Schedule not starting the run it was asked
    for, 503 ``SyncNotStarted``.
    """
    temporal: Client = request.app.state.temporal
    settings: GatewaySettings = request.app.state.settings
    return await erp.sync_now(temporal, settings.task_queue)
