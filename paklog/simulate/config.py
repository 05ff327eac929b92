"""What a simulation is asked to do (:class:`SimulationConfig`) and what it found (:class:`SimulationResult`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from paklog.simulate.metrics import OrderOutcome, Summary, TimelineSample


class SimulationError(Exception):
    """The simulation could not run at all: a login refused, the carrier stand-in refused its settings, …"""


def _rate(name: str, value: float) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be within 0..1, got {value}")


@dataclass(frozen=True)
class SimulationConfig:
    """One simulation run against a running platform.

    Give ``orders`` (place that many, then drive all of them to a terminal
    status) or ``rate_per_minute`` with ``duration_seconds`` (place at that
    pace for that long, then drive them). ``timeout_seconds`` bounds the whole
    run; orders still open then are reported, and the run fails.

    The ``*_rate`` fields are probabilities (0..1): a pick confirmed short, an
    order's first pack one unit short, a label purchase failing at a carrier,
    a journey ending in an exception, an exception recovering.
    """

    gateway_url: str
    carriers_url: str
    service_token: str = field(repr=False)
    orders: int | None = None
    rate_per_minute: float | None = None
    duration_seconds: float | None = None
    short_pick_rate: float = 0.0
    pack_mismatch_rate: float = 0.0
    carrier_failure_rate: float = 0.0
    exception_rate: float = 0.0
    recovery_rate: float = 0.5
    carrier_step_seconds: float = 0.5
    ship_sla_seconds: float = 300.0
    timeout_seconds: float = 900.0
    seed: int | None = None
    customer: tuple[str, str] = ("alice", "alice-pass")
    operator: tuple[str, str] = field(default=("olivia", "olivia-pass"), repr=False)
    card_token: str = "tok_visa"
    #: Orders placed at once (customers), waves picked at once (pickers), orders packed at once (packers).
    customers: int = 4
    pickers: int = 2
    packers: int = 2
    #: How often the watcher reads every open order, and how often the operator plans a wave.
    poll_seconds: float = 1.0
    wave_every_seconds: float = 2.0
    max_orders_per_wave: int = 20
    #: Requests the watcher keeps in flight at once.
    watch_concurrency: int = 8

    def __post_init__(self) -> None:
        if (self.orders is None) == (self.rate_per_minute is None):
            raise ValueError("give either orders, or rate_per_minute with duration_seconds")
        if self.orders is not None and self.orders < 1:
            raise ValueError(f"orders must be at least 1, got {self.orders}")
        if self.rate_per_minute is not None:
            if self.rate_per_minute <= 0:
                raise ValueError(f"rate_per_minute must be positive, got {self.rate_per_minute}")
            if self.duration_seconds is None or self.duration_seconds <= 0:
                raise ValueError("rate_per_minute needs a positive duration_seconds")
        for name in (
            "short_pick_rate",
            "pack_mismatch_rate",
            "carrier_failure_rate",
            "exception_rate",
            "recovery_rate",
        ):
            _rate(name, getattr(self, name))
        # The carrier stand-in's own bounds for a journey step.
        if not 0.05 <= self.carrier_step_seconds <= 3600:
            raise ValueError(f"carrier_step_seconds must be within 0.05..3600, got {self.carrier_step_seconds}")
        for name in ("ship_sla_seconds", "timeout_seconds", "poll_seconds", "wave_every_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("customers", "pickers", "packers", "max_orders_per_wave", "watch_concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    @property
    def expected_orders(self) -> int:
        """How many orders the run means to place (the progress bar's total until placing ends)."""
        if self.orders is not None:
            return self.orders
        assert self.rate_per_minute is not None
        assert self.duration_seconds is not None
        return max(1, round(self.rate_per_minute * self.duration_seconds / 60))

    def to_json(self) -> dict[str, Any]:
        """The settings worth keeping in a report: no credentials."""
        data = asdict(self)
        for secret in ("service_token", "operator"):
            data.pop(secret)
        data["customer"] = self.customer[0]
        return data


@dataclass(frozen=True)
class SimulationResult:
    """What a run found: its orders' last views, the figures, the status timeline."""

    config: SimulationConfig
    started_at: datetime
    finished_at: datetime
    outcomes: list[OrderOutcome]
    summary: Summary
    timeline: list[TimelineSample]
    timed_out: bool
    #: Events worth a line in the report: pack mismatches sent, short picks confirmed, answers not understood.
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every order placed reached ``DELIVERED`` or ``CANCELLED``, and none failed to be placed."""
        return not self.summary.non_terminal and not self.summary.placement_failures

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "timed_out": self.timed_out,
            "ok": self.ok,
            "config": self.config.to_json(),
            "summary": self.summary.to_json(),
            "counters": dict(sorted(self.counters.items())),
            "orders": [
                {
                    "order_id": o.order_id,
                    "status": o.status,
                    "cancel_reason": o.cancel_reason,
                    "placed_at": o.placed_at.isoformat() if o.placed_at else None,
                    "shipped_at": o.shipped_at.isoformat() if o.shipped_at else None,
                    "delivered_at": o.delivered_at.isoformat() if o.delivered_at else None,
                }
                for o in self.outcomes
            ],
            "timeline": [sample.to_json() for sample in self.timeline],
        }
