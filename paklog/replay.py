"""Replay recorded histories against today's workflow code (``paklog replay``)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from common.settings import TemporalSettings
from common.tracing import WorkerTracing
from gateway.temporal import connect_temporal
from paklog.worker import WORKFLOWS


def _replayer() -> Replayer:
    """Every workflow the worker hosts (a history names its workflow type), with the worker's interceptor."""
    return Replayer(workflows=list(WORKFLOWS), interceptors=[WorkerTracing()])


async def replay_files(paths: list[Path], console: Console) -> int:
    """Replay each JSON history file; returns how many failed."""
    replayer = _replayer()
    failures = 0
    for path in paths:
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        failures += _report(console, str(path), result.replay_failure)
    return failures


async def replay_workflow_id(settings: TemporalSettings, workflow_id: str, console: Console) -> int:
    """Fetch every run of ``workflow_id`` from the server and replay it."""
    client = await connect_temporal(settings)
    runs = [run async for run in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    if not runs:
        console.print(f"[red]no workflow[/red] {workflow_id}")
        return 1
    replayer = _replayer()
    failures = 0
    for run in runs:
        history = await client.get_workflow_handle(run.id, run_id=run.run_id).fetch_history()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        failures += _report(console, f"{run.id} run {run.run_id}", result.replay_failure)
    return failures


def _report(console: Console, what: str, error: Exception | None) -> int:
    if error is None:
        console.print(f"[green]ok[/green] {what}")
        return 0
    console.print(f"[red]NON-DETERMINISTIC[/red] {what}: {error}")
    return 1
