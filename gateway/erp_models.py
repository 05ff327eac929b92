"""The ``/api/erp/sync`` answer, and the watermark records the inventory and identity services answer."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Entity = Literal["materials", "customers", "stock"]
RunStatus = Literal["RUNNING", "COMPLETED", "FAILED", "CANCELED", "TERMINATED", "CONTINUED_AS_NEW", "TIMED_OUT"]


class WatermarkRecord(BaseModel):
    """One entity's row of a service's ``erp_watermarks`` (``GET /erp/watermarks``), as far as the gateway reads it."""

    changed_at: datetime
    key: str
    rows: int = 0


class ScheduleView(BaseModel):
    """The ``erp-sync`` Temporal Schedule."""

    paused: bool
    interval_seconds: float | None = Field(description="Seconds between runs (null: the spec is not an interval)")
    last_run_at: datetime | None = Field(description="When the latest run the Schedule started began")
    next_run_at: datetime | None = Field(description="When the next run is due (null while paused)")


class WatermarkView(BaseModel):
    """The ERP position of the last row committed: ``(LastChangedAt, key)``."""

    changed_at: datetime
    key: str


class EntitySyncView(BaseModel):
    entity: Entity
    watermark: WatermarkView | None = Field(description="Null before the first page of this entity was imported")
    rows: int = Field(description="Rows the owning service has imported under its watermark")
    lag_seconds: float | None = Field(
        description="The ERP's newest change of this entity minus the watermark (0: in step); "
        "null without a watermark or when the ERP does not answer"
    )


class ImportSummaryView(BaseModel):
    """One entity's import in a run (ErpImport's result)."""

    entity: Entity
    pages: int
    rows: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    unknown: int
    seconds: float
    done: bool


class SyncSummaryView(BaseModel):
    """A finished ErpSync's result."""

    full: bool
    seconds: float
    entities: list[ImportSummaryView]


class LastRunView(BaseModel):
    """The newest ErpSync (scheduled, ``paklog erp sync now`` or a backfill): running first, else the latest closed."""

    workflow_id: str
    status: RunStatus
    started_at: datetime | None
    closed_at: datetime | None
    summary: SyncSummaryView | None = Field(description="The result, once completed")
    error: str | None = Field(description="Why it did not complete, once it failed or was stopped")


class ErpSyncView(BaseModel):
    schedule: ScheduleView | None = Field(description="Null when no erp-sync Schedule exists (interval 0)")
    entities: list[EntitySyncView]
    last_run: LastRunView | None


class SyncNowView(BaseModel):
    """``POST /api/erp/sync``'s answer: the run going now (not waited for; follow it with ``GET /api/erp/sync``)."""

    workflow_id: str = Field(description="The ErpSync run now going", examples=["erp-sync-run-2026-11-24T10:00:00Z"])
    started: bool = Field(description="true: this call started it; false: a run was already going (this is its id)")
