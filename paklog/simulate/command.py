"""``paklog simulate`` in a terminal (or in CI): a progress bar, the summary table, the report files."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from paklog.simulate.config import SimulationConfig, SimulationError, SimulationResult
from paklog.simulate.report import summary_table, write_report
from paklog.simulate.run import run_simulation

#: Without a terminal the bar is drawn once, at the end; meanwhile a line at most this often.
PLAIN_PROGRESS_SECONDS = 30.0
#: Open orders named at the end (the report lists them all).
OPEN_ORDERS_SHOWN = 20


def simulate_command(config: SimulationConfig, *, report: Path | None, console: Console) -> int:
    """Run the simulation, show it, write ``report`` (JSON, and the PNG beside it); the exit code.

    0: every order placed ended ``DELIVERED`` or ``CANCELLED``; 1: some did not
    (or could not be placed); 2: the run could not start or go on (:class:`SimulationError`).
    """
    columns = (TextColumn("orders ended"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("orders", total=config.expected_orders)
        last_line = time.monotonic()

        def on_progress(ended: int, total: int) -> None:
            nonlocal last_line
            progress.update(bar, completed=ended, total=total)
            if not console.is_terminal and time.monotonic() - last_line >= PLAIN_PROGRESS_SECONDS:
                last_line = time.monotonic()
                console.print(f"{ended}/{total} orders ended")

        try:
            result = asyncio.run(run_simulation(config, on_progress=on_progress))
        except SimulationError as exc:
            progress.stop()
            console.print(f"[red]simulation stopped[/red]: {exc}")
            return 2
    _show(result, console)
    if report is not None:
        json_path, png_path = write_report(result, report)
        console.print(f"report: {json_path} and {png_path}")
    return result.exit_code


def _show(result: SimulationResult, console: Console) -> None:
    console.print(summary_table(result.summary))
    counters = ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in sorted(result.counters.items()))
    if counters:
        console.print(f"floor: {counters}", soft_wrap=True)
    summary = result.summary
    if summary.placement_failures:
        console.print(f"[red]{summary.placement_failures} order(s) could not be placed[/red]")
    if summary.non_terminal:
        why = f"after the {result.config.timeout_seconds:g} s timeout" if result.timed_out else "at the end"
        console.print(f"[red]{len(summary.non_terminal)} order(s) still open {why}[/red]:")
        status = {o.order_id: o.status for o in result.outcomes}
        for order_id in summary.non_terminal[:OPEN_ORDERS_SHOWN]:
            console.print(f"  {order_id} {status[order_id]}")
        if len(summary.non_terminal) > OPEN_ORDERS_SHOWN:
            console.print(f"  … and {len(summary.non_terminal) - OPEN_ORDERS_SHOWN} more")
    elif result.ok:
        console.print(f"[green]all {summary.orders_placed} orders ended DELIVERED or CANCELLED[/green]")
