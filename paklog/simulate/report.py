"""The run's summary as a rich table, and the ``--report`` files: JSON, and a PNG chart beside it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from paklog.simulate.config import SimulationResult
from paklog.simulate.metrics import Summary, TimelineSample, timeline_series

#: One colour per status, so a chart reads the same from run to run.
STATUS_COLOURS = {
    "PENDING": "#c7c7c7",
    "RESERVED": "#9edae5",
    "PAYMENT_AUTHORIZED": "#17becf",
    "AWAITING_WAVE": "#bcbd22",
    "PICKING": "#ff7f0e",
    "PACKED": "#8c564b",
    "SHIPPED": "#1f77b4",
    "DELIVERED": "#2ca02c",
    "CANCELLED": "#d62728",
}


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def summary_table(summary: Summary) -> Table:
    """The figures a person reads at the end of a run."""
    table = Table(title="simulation summary", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("orders placed", str(summary.orders_placed)),
        ("orders that failed to be placed", str(summary.placement_failures)),
        ("run time", _seconds(summary.elapsed_seconds)),
        ("orders shipped per hour", _rate(summary.orders_per_hour)),
        ("lines picked per hour", _rate(summary.lines_picked_per_hour)),
        ("cycle time placed→shipped p50 / p95", _pair(summary.placed_to_shipped.p50, summary.placed_to_shipped.p95)),
        (
            "cycle time placed→delivered p50 / p95",
            _pair(summary.placed_to_delivered.p50, summary.placed_to_delivered.p95),
        ),
        ("pick accuracy (in full / confirmed)", _share(summary.pick_accuracy)),
        (f"on-time ship (within {summary.ship_sla_seconds:g} s)", _share(summary.on_time_ship_rate)),
    ]
    rows += [(f"final status {status}", str(count)) for status, count in summary.by_status.items()]
    rows += [(f"cancel reason {reason}", str(count)) for reason, count in summary.by_cancel_reason.items()]
    for metric, value in rows:
        table.add_row(metric, value)
    return table


def _pair(p50: float | None, p95: float | None) -> str:
    return f"{_seconds(p50)} / {_seconds(p95)}"


def chart_path(report: Path) -> Path:
    """The PNG written beside a JSON report: the same name with the suffix ``.png`` (never the report itself)."""
    png = report.with_suffix(".png")
    return png if png != report else report.with_name(report.name + ".png")


def plot_timeline(samples: Sequence[TimelineSample], path: Path, *, title: str = "orders by status") -> None:
    """A stacked area chart of the orders in each status over the run, as a PNG (matplotlib's Agg backend)."""
    # Imported here: matplotlib takes a while to load and only --report needs it. The Figure API with
    # the Agg canvas never touches pyplot's global state or an interactive backend (no display in CI).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    times, series = timeline_series(samples)
    figure = Figure(figsize=(10, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if series:
        axes.stackplot(
            times,
            *series.values(),
            labels=list(series),
            colors=[STATUS_COLOURS.get(status, "#7f7f7f") for status in series],
        )
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    else:
        axes.text(0.5, 0.5, "no orders", ha="center", va="center", transform=axes.transAxes)
    axes.set_title(title)
    axes.set_xlabel("seconds since the run started")
    axes.set_ylabel("orders")
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    figure.tight_layout()
    figure.savefig(path, format="png")


def write_report(result: SimulationResult, path: Path) -> tuple[Path, Path]:
    """Write the run as JSON to ``path`` and its status chart to ``path`` with ``.png``; both paths."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    png = chart_path(path)
    plot_timeline(result.timeline, png, title=f"orders by status ({result.summary.orders_placed} placed)")
    return path, png
