"""The master-data import on the time-skipping server, against a simulated ERP and target (``erp_fakes``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from rich.console import Console
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from paklog import bench_erp
from tests.workflows.erp_fakes import FakeErp
from tests.workflows.fakes import time_skipping_env
from workflows.erp_sync import ErpImport, ErpSync
from workflows.erp_types import (
    CUSTOMERS,
    ENTITIES,
    MATERIALS,
    STOCK,
    ErpImportInput,
    ErpSyncInput,
    ImportProgress,
    Watermark,
    import_workflow_id,
)

Handle = WorkflowHandle[Any, Any]


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_env() as environment:
        yield environment


@asynccontextmanager
async def worker(client: Client, erp: FakeErp) -> AsyncIterator[str]:
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=[ErpImport, ErpSync], activities=erp.activities()):
        yield task_queue


async def start_import(client: Client, task_queue: str, params: ErpImportInput) -> Handle:
    return await client.start_workflow(
        ErpImport.run, params, id=import_workflow_id(params.entity), task_queue=task_queue
    )


async def until(check: Any, seconds: float = 20) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition never held")


def pages_of(erp: FakeErp, entity: str) -> list[Watermark | None]:
    return [wm for name, e, wm in erp.calls if name == "import_page" and e == entity]


async def test_pages_continue_as_new_carrying_the_totals(env: WorkflowEnvironment) -> None:
    erp = FakeErp(rows=25, hold_at_call=5)
    async with worker(env.client, erp) as tq:
        handle = await start_import(env.client, tq, ErpImportInput(entity=MATERIALS, page_size=4, pages_per_run=2))
        await until(lambda: erp.page_calls == 5)
        # Held in the third run: two runs of two pages each are behind it, their totals carried.
        progress: ImportProgress = await handle.query(ErpImport.progress)
        assert (progress.pages, progress.rows, progress.inserted, progress.runs, progress.done) == (4, 16, 16, 3, False)
        assert progress.watermark == Watermark(erp.ordered(MATERIALS)[15].changed_at, "MAT-0016")
        first = await env.client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id).describe()
        assert first.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
        erp.release.set()
        result: ImportProgress = await handle.result()
    assert (result.pages, result.rows, result.inserted, result.updated, result.runs, result.done) == (
        7,
        25,
        25,
        0,
        4,
        True,
    )
    assert result.started_at == progress.started_at  # the chain's start, not the last run's
    assert result.seconds >= 0
    erp.assert_in_step(MATERIALS)
    # It started from the service's watermark (none yet), and each page from the one before.
    assert erp.calls[0] == ("load_watermark", MATERIALS, None)
    assert [wm.key if wm else None for wm in pages_of(erp, MATERIALS)] == [
        None,
        "MAT-0004",
        "MAT-0008",
        "MAT-0012",
        "MAT-0016",
        "MAT-0020",
        "MAT-0024",
    ]


async def test_an_outage_mid_import_resumes_from_the_last_committed_watermark(env: WorkflowEnvironment) -> None:
    # The third page meets the ERP down five times, the fifth page's answer is lost after the commit,
    # and rows change meanwhile (an imported one and a pending one): nothing twice, nothing missed.
    erp = FakeErp(
        rows=20,
        outage_at_call=3,
        outage_failures=5,
        lost_answer_at_call=5,
        change_before_call={4: [(STOCK, "STO-0002"), (STOCK, "STO-0015")]},
    )
    async with worker(env.client, erp) as tq:
        handle = await start_import(env.client, tq, ErpImportInput(entity=STOCK, page_size=3, pages_per_run=3))
        result: ImportProgress = await handle.result()
    erp.assert_in_step(STOCK)
    third = [wm for name, e, wm in erp.calls if name == "import_page"][2:8]
    assert len(set(third)) == 1, "every retry of the failing page starts from the same watermark"
    assert erp.page_attempts == erp.page_calls + 5 + 1
    # 20 rows, plus STO-0002 again (changed after its import); STO-0015 changed before its import.
    assert (result.rows, result.inserted, result.updated, result.done) == (21, 20, 1, True)
    assert len(erp.targets[STOCK].applied) == 21


async def test_an_import_resumes_from_the_watermark_the_service_committed(env: WorkflowEnvironment) -> None:
    erp = FakeErp(rows=6)
    async with worker(env.client, erp) as tq:
        await (await start_import(env.client, tq, ErpImportInput(entity=CUSTOMERS, page_size=4))).result()
        erp.change(CUSTOMERS, "CUS-0003")
        erp.calls.clear()
        again: ImportProgress = await (
            await start_import(env.client, tq, ErpImportInput(entity=CUSTOMERS, page_size=4))
        ).result()
        assert (again.pages, again.rows, again.updated, again.inserted) == (1, 1, 1, 0)
        assert pages_of(erp, CUSTOMERS)[0] == Watermark(erp.ordered(CUSTOMERS)[-2].changed_at, "CUS-0006")
        erp.calls.clear()
        nothing: ImportProgress = await (await start_import(env.client, tq, ErpImportInput(entity=CUSTOMERS))).result()
    assert (nothing.pages, nothing.rows, nothing.done, nothing.watermark) == (
        0,
        0,
        True,
        erp.targets[CUSTOMERS].watermark,
    )
    erp.assert_in_step(CUSTOMERS)


async def test_erp_sync_imports_materials_then_customers_then_stock(env: WorkflowEnvironment) -> None:
    erp = FakeErp(rows=5)
    async with worker(env.client, erp) as tq:
        handle = await env.client.start_workflow(
            ErpSync.run, ErpSyncInput(page_size=2), id=f"erp-sync-run-{uuid.uuid4().hex[:6]}", task_queue=tq
        )
        result = await handle.result()
        assert [e.entity for e in result.entities] == list(ENTITIES)
        assert [(e.rows, e.pages, e.done) for e in result.entities] == [(5, 3, True)] * 3
        order = [entity for name, entity, _ in erp.calls]
        assert order == sorted(order, key=ENTITIES.index), "an entity started before the one before it ended"
        for entity in ENTITIES:
            erp.assert_in_step(entity)
            child = await env.client.get_workflow_handle(import_workflow_id(entity)).describe()
            assert child.parent_id == handle.id
        progress = await handle.query(ErpSync.progress)
        assert (progress.current, [p.entity for p in progress.done]) == (None, list(ENTITIES))

        # Incremental: each entity from its watermark; full: every row from the first, no watermark read.
        erp.calls.clear()
        erp.change(MATERIALS, "MAT-0002")
        incremental = await env.client.execute_workflow(
            ErpSync.run, ErpSyncInput(), id=f"erp-sync-run-{uuid.uuid4().hex[:6]}", task_queue=tq
        )
        assert [e.rows for e in incremental.entities] == [1, 0, 0]
        assert [name for name, _, _ in erp.calls].count("load_watermark") == 3
        erp.calls.clear()
        full = await env.client.execute_workflow(
            ErpSync.run, ErpSyncInput(full=True), id=f"erp-backfill-{uuid.uuid4().hex[:6]}", task_queue=tq
        )
    assert full.full
    assert [(e.rows, e.inserted, e.unchanged) for e in full.entities] == [(5, 0, 5)] * 3  # newer-wins: no change
    assert "load_watermark" not in [name for name, _, _ in erp.calls]
    assert [pages_of(erp, entity)[0] for entity in ENTITIES] == [None, None, None]
    for entity in ENTITIES:
        erp.assert_in_step(entity)


async def test_erp_sync_waits_for_an_import_another_run_holds(env: WorkflowEnvironment) -> None:
    # A backfill of materials is stuck on an ERP outage when the scheduled sync comes.
    erp = FakeErp(rows=3, outage_at_call=1, outage_failures=10**6)
    async with worker(env.client, erp) as tq:
        busy = await start_import(env.client, tq, ErpImportInput(entity=MATERIALS, full=True))
        await until(lambda: erp.page_attempts >= 1)
        sync = await env.client.start_workflow(
            ErpSync.run, ErpSyncInput(), id=f"erp-sync-run-{uuid.uuid4().hex[:6]}", task_queue=tq
        )
        await env.sleep(120)
        history = await sync.fetch_history()
        refused = [e for e in history.events if e.HasField("start_child_workflow_execution_failed_event_attributes")]
        assert len(refused) >= 3, "the sync did not keep trying"
        assert erp.page_calls == 1, "the sync imported materials while another import held them"
        erp.outage_failures = 0
        await busy.result()
        result = await sync.result()
    assert [e.rows for e in result.entities] == [0, 3, 3]  # materials were in step by then
    for entity in ENTITIES:
        erp.assert_in_step(entity)


async def test_an_unknown_entity_fails_at_once(env: WorkflowEnvironment) -> None:
    erp = FakeErp(rows=1)
    async with worker(env.client, erp) as tq:
        handle = await env.client.start_workflow(
            ErpImport.run, ErpImportInput(entity="orders"), id="erp-sync-orders", task_queue=tq
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "UnknownEntity"
    assert erp.calls == []


async def test_the_bench_backfill_phase_imports_materials_from_zero(
    env: WorkflowEnvironment, capsys: pytest.CaptureFixture[str]
) -> None:
    erp = FakeErp(rows=9)
    async with worker(env.client, erp) as tq:
        await start_import(env.client, tq, ErpImportInput(entity=MATERIALS))  # a watermark the backfill ignores
        await env.client.get_workflow_handle(import_workflow_id(MATERIALS)).result()
        backfill = await bench_erp._backfill(env.client, tq, page_size=4)
    assert (backfill.result.rows, backfill.result.pages, backfill.page_size) == (9, 3, 4)
    assert [wm for name, e, wm in erp.calls if name == "import_page"][1] is None  # from zero again
    assert backfill.per_second > 0
    bench_erp.print_backfill(backfill, Console(force_terminal=False))
    bench_erp.print_backfill(None, Console(force_terminal=False))
    out = capsys.readouterr().out
    assert f"backfill materials/s {backfill.per_second:.0f}\n" in out
    assert "backfill skipped" in out
