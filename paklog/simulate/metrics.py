"""The simulation's arithmetic, as pure functions over what the gateway answered.

Everything here is deterministic and free of I/O, so the numbers a run
prints can be checked without a platform (``tests/unit/test_simulate_metrics.py``):

* :func:`percentile`: linear interpolation between the closest ranks (numpy's default).
* :func:`per_hour`: a count over the run's wall-clock seconds, scaled to an hour.
* :func:`pick_accuracy`: picks confirmed in full / picks confirmed.
* :func:`on_time_ship_rate`: orders shipped within the SLA / orders that should have shipped.
* :func:`status_counts` and :func:`timeline_series`: how many orders were in each status, sample by sample.

Cycle times come from each order's ``history`` (the orders service's own
timestamps), so the clock of the machine running the simulation plays no part.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from common.vocabulary import OrderStatus

#: Where an order's journey ends; the simulation waits for every order to reach one.
TERMINAL_STATUSES = frozenset({OrderStatus.DELIVERED.value, OrderStatus.CANCELLED.value})
#: Statuses in journey order (the chart's stacking order and the table's row order).
STATUS_ORDER: tuple[str, ...] = tuple(status.value for status in OrderStatus)


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The ``pct``-th percentile (0..100) by linear interpolation between closest ranks; ``None`` for no values."""
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile must be within 0..100, got {pct}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def per_hour(count: int, seconds: float) -> float | None:
    """``count`` events in ``seconds`` as a rate per hour; ``None`` when no time passed."""
    if seconds <= 0:
        return None
    return count * 3600 / seconds


def pick_accuracy(in_full: int, confirmed: int) -> float | None:
    """Share of pick confirmations that took every unit the task asked for; ``None`` before any pick."""
    if in_full < 0 or in_full > confirmed:
        raise ValueError(f"{in_full} picks in full out of {confirmed} confirmed")
    if confirmed == 0:
        return None
    return in_full / confirmed


def _at(entry: Mapping[str, Any]) -> datetime | None:
    raw = entry.get("at")
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    # The orders service answers aware UTC times; a naive one would not compare with them.
    return moment if moment.tzinfo is not None else None


@dataclass(frozen=True)
class OrderOutcome:
    """One order as its last ``GET /api/orders/{id}`` showed it, reduced to what the metrics need."""

    order_id: str
    status: str
    cancel_reason: str | None = None
    placed_at: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def seconds_to_ship(self) -> float | None:
        if self.placed_at is None or self.shipped_at is None:
            return None
        return (self.shipped_at - self.placed_at).total_seconds()

    @property
    def seconds_to_deliver(self) -> float | None:
        if self.placed_at is None or self.delivered_at is None:
            return None
        return (self.delivered_at - self.placed_at).total_seconds()

    @classmethod
    def from_view(cls, view: Mapping[str, Any]) -> OrderOutcome:
        """From the gateway's order view: placed = the first ``PENDING`` entry (else ``created_at``)."""
        history: list[Mapping[str, Any]] = [h for h in view.get("history") or [] if isinstance(h, Mapping)]

        def first(status: str) -> datetime | None:
            return next((at for h in history if h.get("to_status") == status and (at := _at(h)) is not None), None)

        placed = first(OrderStatus.PENDING.value) or _at({"at": view.get("created_at")})
        return cls(
            order_id=str(view["order_id"]),
            status=str(view["status"]),
            cancel_reason=view.get("cancel_reason"),
            placed_at=placed,
            shipped_at=first(OrderStatus.SHIPPED.value),
            delivered_at=first(OrderStatus.DELIVERED.value),
        )


def on_time_ship_rate(outcomes: Iterable[OrderOutcome], sla_seconds: float) -> float | None:
    """Orders shipped within ``sla_seconds`` of placing, over the orders that should have shipped.

    An order cancelled before shipping (out of stock, declined, cancelled) is
    left out; one that never shipped (still open when the run ended) counts as
    late. ``None`` when no order is left to judge.
    """
    due = on_time = 0
    for outcome in outcomes:
        seconds = outcome.seconds_to_ship
        if seconds is None and outcome.status == OrderStatus.CANCELLED.value:
            continue
        due += 1
        if seconds is not None and seconds <= sla_seconds:
            on_time += 1
    return on_time / due if due else None


def status_counts(statuses: Iterable[str]) -> dict[str, int]:
    """Orders per status, every known status present (0 included) in journey order, unknown ones after."""
    counted = Counter(statuses)
    counts = {status: counted.pop(status, 0) for status in STATUS_ORDER}
    counts.update(sorted(counted.items()))
    return counts


@dataclass(frozen=True)
class TimelineSample:
    """How many of the run's orders were in each status ``seconds`` after the run started."""

    seconds: float
    counts: Mapping[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"t": round(self.seconds, 3), "counts": {status: n for status, n in self.counts.items() if n}}


def timeline_series(samples: Sequence[TimelineSample]) -> tuple[list[float], dict[str, list[int]]]:
    """Samples as aligned series for a chart: the times, and per status its count at each time.

    Statuses no sample ever saw are left out; a status missing from one
    sample counts 0 there.
    """
    seen = [s for s in STATUS_ORDER if any(sample.counts.get(s, 0) for sample in samples)]
    extra = sorted({s for sample in samples for s in sample.counts if s not in STATUS_ORDER and sample.counts[s]})
    times = [sample.seconds for sample in samples]
    return times, {status: [sample.counts.get(status, 0) for sample in samples] for status in (*seen, *extra)}


@dataclass(frozen=True)
class CycleTime:
    """p50/p95 of one cycle time, in seconds, over ``count`` orders (``None`` without any)."""

    count: int
    p50: float | None
    p95: float | None

    @classmethod
    def of(cls, seconds: Sequence[float]) -> CycleTime:
        return cls(count=len(seconds), p50=percentile(seconds, 50), p95=percentile(seconds, 95))

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "p50_seconds": self.p50, "p95_seconds": self.p95}


@dataclass(frozen=True)
class PickTally:
    """The pickers' own count of their confirmations (the gateway accepted them: 200 or 202)."""

    confirmed: int = 0
    in_full: int = 0


@dataclass(frozen=True)
class Summary:
    """The run's figures: what the summary table shows and the JSON report holds."""

    orders_placed: int
    placement_failures: int
    elapsed_seconds: float
    orders_shipped: int
    orders_per_hour: float | None
    lines_picked: int
    lines_picked_per_hour: float | None
    pick_accuracy: float | None
    placed_to_shipped: CycleTime
    placed_to_delivered: CycleTime
    ship_sla_seconds: float
    on_time_ship_rate: float | None
    by_status: dict[str, int]
    by_cancel_reason: dict[str, int]
    non_terminal: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "orders_placed": self.orders_placed,
            "placement_failures": self.placement_failures,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "orders_shipped": self.orders_shipped,
            "orders_per_hour": self.orders_per_hour,
            "lines_picked": self.lines_picked,
            "lines_picked_per_hour": self.lines_picked_per_hour,
            "pick_accuracy": self.pick_accuracy,
            "cycle_time": {
                "placed_to_shipped": self.placed_to_shipped.to_json(),
                "placed_to_delivered": self.placed_to_delivered.to_json(),
            },
            "ship_sla_seconds": self.ship_sla_seconds,
            "on_time_ship_rate": self.on_time_ship_rate,
            "by_status": self.by_status,
            "by_cancel_reason": self.by_cancel_reason,
            "non_terminal": self.non_terminal,
        }


def summarize(
    outcomes: Sequence[OrderOutcome],
    *,
    picks: PickTally,
    elapsed_seconds: float,
    ship_sla_seconds: float,
    placement_failures: int = 0,
) -> Summary:
    """The run's figures from its orders' final views and the pickers' tally.

    ``orders_per_hour`` is throughput: orders that shipped, per hour of the run.
    ``lines_picked`` counts pick confirmations (one task is one line at one bin).
    """
    shipped = [o.seconds_to_ship for o in outcomes]
    delivered = [o.seconds_to_deliver for o in outcomes]
    to_ship = [s for s in shipped if s is not None]
    by_status = {k: v for k, v in status_counts(o.status for o in outcomes).items() if v}
    reasons = Counter(o.cancel_reason or "UNKNOWN" for o in outcomes if o.status == OrderStatus.CANCELLED.value)
    return Summary(
        orders_placed=len(outcomes),
        placement_failures=placement_failures,
        elapsed_seconds=elapsed_seconds,
        orders_shipped=len(to_ship),
        orders_per_hour=per_hour(len(to_ship), elapsed_seconds),
        lines_picked=picks.confirmed,
        lines_picked_per_hour=per_hour(picks.confirmed, elapsed_seconds),
        pick_accuracy=pick_accuracy(picks.in_full, picks.confirmed),
        placed_to_shipped=CycleTime.of(to_ship),
        placed_to_delivered=CycleTime.of([s for s in delivered if s is not None]),
        ship_sla_seconds=ship_sla_seconds,
        on_time_ship_rate=on_time_ship_rate(outcomes, ship_sla_seconds),
        by_status=by_status,
        by_cancel_reason=dict(sorted(reasons.items())),
        non_terminal=sorted(o.order_id for o in outcomes if not o.terminal),
    )
