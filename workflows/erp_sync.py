"""ErpImport (one entity's master data, page by page) and ErpSync (materials, customers, stock in turn)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.erp_sync import ErpSyncActivities
    from workflows.erp_types import (
        BAD_IMPORT_INPUT,
        BUSY_RETRY_INTERVAL,
        ENTITIES,
        ERP_IMPORT_WORKFLOW_NAME,
        ERP_SYNC_WORKFLOW_NAME,
        MAX_PAGE_SIZE,
        PAGE_RETRY,
        PAGE_TIMEOUT,
        UNKNOWN_ENTITY,
        EntityRef,
        ErpImportInput,
        ErpSyncInput,
        ErpSyncProgress,
        ErpSyncResult,
        ImportPage,
        ImportProgress,
        import_workflow_id,
    )


def _seconds_since(started_at: str) -> float:
    return (workflow.now() - datetime.fromisoformat(started_at)).total_seconds()


def _check(params: ErpImportInput) -> None:
    if params.entity not in ENTITIES:
        raise ApplicationError(
            f"no such entity {params.entity!r}; one of {', '.join(ENTITIES)}", type=UNKNOWN_ENTITY, non_retryable=True
        )
    if not 1 <= params.page_size <= MAX_PAGE_SIZE or params.pages_per_run < 1:
        raise ApplicationError(
            f"page_size must be 1..{MAX_PAGE_SIZE} and pages_per_run at least 1", type=BAD_IMPORT_INPUT
        )


@workflow.defn(name=ERP_IMPORT_WORKFLOW_NAME)
class ErpImport:
    """One entity's master data from the ERP into the service that owns it (``erp-sync-<entity>``).

    Steps: ``erp.load_watermark`` (the position the owning service committed
    last; skipped with ``full``, which starts from the first row) → per page
    ``erp.import_page`` (the rows after the watermark, converted and posted
    with their last ``(LastChangedAt, key)`` as the new watermark, in one
    transaction on the service's side) until a page says no more rows follow.
    A failing page (the ERP down, slow or answering 5xx; a service down) is
    retried from the same watermark, 1 s doubling to 60 s, for as long as it
    takes: the committed pages stay committed, and upserts are newer-wins, so
    nothing is imported twice or skipped. After ``pages_per_run`` pages the
    workflow continues as new, carrying its totals and watermark.

    No compensation: every page stands on its own. Query ``progress``;
    the result is the totals with ``seconds`` (workflow time, first run to end).
    """

    @workflow.init
    def __init__(self, params: ErpImportInput) -> None:
        if params.totals is not None:
            self._progress = dataclasses.replace(params.totals, runs=params.totals.runs + 1, done=False)
        else:
            self._progress = ImportProgress(entity=params.entity, started_at=workflow.now().isoformat())

    @workflow.run
    async def run(self, params: ErpImportInput) -> ImportProgress:
        _check(params)
        if params.totals is None and not params.full:
            stored = await workflow.execute_activity_method(
                ErpSyncActivities.load_watermark,
                EntityRef(params.entity),
                start_to_close_timeout=PAGE_TIMEOUT,
                retry_policy=PAGE_RETRY,
            )
            self._progress.watermark = stored.watermark
        for _ in range(params.pages_per_run):
            page = await workflow.execute_activity_method(
                ErpSyncActivities.import_page,
                ImportPage(entity=params.entity, watermark=self._progress.watermark, page_size=params.page_size),
                start_to_close_timeout=PAGE_TIMEOUT,
                retry_policy=PAGE_RETRY,
            )
            if page.rows:
                self._progress.add(page)
            if page.rejected or page.unknown:
                workflow.logger.warning(
                    "rows not applied",
                    extra={"entity": params.entity, "rejected": page.rejected, "unknown": page.unknown},
                )
            if not page.more or not page.rows:
                self._progress.done = True
                return self.progress()
        workflow.continue_as_new(dataclasses.replace(params, totals=self.progress()))

    @workflow.query
    def progress(self) -> ImportProgress:
        return dataclasses.replace(self._progress, seconds=_seconds_since(self._progress.started_at))


@workflow.defn(name=ERP_SYNC_WORKFLOW_NAME)
class ErpSync:
    """Materials, then customers, then stock, each an ``ErpImport`` child (started by the ``erp-sync`` Schedule).

    Stock comes last because a stock row needs its material. An entity whose
    import another run holds (a backfill while the Schedule's run imports)
    is started again every ``BUSY_RETRY_INTERVAL`` until that one ends, so
    the two never interleave. ``full`` (``paklog erp backfill``) imports
    every row from the first one. No compensation: each child's pages are
    committed as they go. Query ``progress``; the result sums up each entity.
    """

    @workflow.init
    def __init__(self, params: ErpSyncInput) -> None:
        self._progress = ErpSyncProgress(full=params.full, started_at=workflow.now().isoformat())

    @workflow.run
    async def run(self, params: ErpSyncInput) -> ErpSyncResult:
        for entity in ENTITIES:
            self._progress.current = entity
            self._progress.done.append(await self._import(entity, params))
        self._progress.current = None
        return ErpSyncResult(
            full=params.full,
            started_at=self._progress.started_at,
            seconds=_seconds_since(self._progress.started_at),
            entities=list(self._progress.done),
        )

    async def _import(self, entity: str, params: ErpSyncInput) -> ImportProgress:
        child = ErpImportInput(
            entity=entity, full=params.full, page_size=params.page_size, pages_per_run=params.pages_per_run
        )
        while True:
            try:
                handle = await workflow.start_child_workflow(ErpImport.run, child, id=import_workflow_id(entity))
            except WorkflowAlreadyStartedError:
                workflow.logger.info("import busy; waiting", extra={"entity": entity})
                await workflow.sleep(BUSY_RETRY_INTERVAL)
                continue
            return await handle

    @workflow.query
    def progress(self) -> ErpSyncProgress:
        return self._progress
