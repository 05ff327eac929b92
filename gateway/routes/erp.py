"""``/api/erp/sync``: the master-data import's state (operators and admins; a customer gets 403 ``StaffOnly``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from temporalio.client import Client

from gateway import erp
from gateway.auth import StaffDep
from gateway.clients import ServiceClients
from gateway.erp_models import ErpSyncView
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
