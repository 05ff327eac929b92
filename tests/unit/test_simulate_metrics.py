"""``paklog simulate``'s arithmetic and its report files, without a platform."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from paklog.simulate import SimulationConfig, SimulationResult, write_report
from paklog.simulate.floor import one_unit_short, picked_items
from paklog.simulate.metrics import (
    OrderOutcome,
    PickTally,
    TimelineSample,
    on_time_ship_rate,
    per_hour,
    percentile,
    pick_accuracy,
    status_counts,
    summarize,
    timeline_series,
)
from paklog.simulate.report import chart_path

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def view(order_id: str, status: str, steps: list[tuple[str, float]], reason: str | None = None) -> dict[str, Any]:
    """A gateway order view whose history moves through ``steps`` (status, seconds after T0)."""
    history = []
    previous = None
    for to_status, seconds in steps:
        history.append({"from_status": previous, "to_status": to_status, "reason": None, "at": at(seconds)})
        previous = to_status
    return {"order_id": order_id, "status": status, "cancel_reason": reason, "history": history}


def outcome(order_id: str, status: str, *, ship: float | None = None, deliver: float | None = None) -> OrderOutcome:
    return OrderOutcome(
        order_id=order_id,
        status=status,
        placed_at=T0,
        shipped_at=T0 + timedelta(seconds=ship) if ship is not None else None,
        delivered_at=T0 + timedelta(seconds=deliver) if deliver is not None else None,
    )


def config(**overrides: Any) -> SimulationConfig:
    base: dict[str, Any] = {"gateway_url": "http://gw", "carriers_url": "http://tms", "service_token": "s" * 40}
    return SimulationConfig(**(base | ({"orders": 3} if "rate_per_minute" not in overrides else {}) | overrides))


# -- percentiles and rates --------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        ([5.0], 50, 5.0),
        ([5.0], 95, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([4.0, 1.0, 3.0, 2.0], 50, 2.5),  # order of arrival does not matter
        ([1.0, 2.0, 3.0, 4.0, 5.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0, 5.0], 100, 5.0),
        ([float(v) for v in range(1, 21)], 95, 19.05),
        ([10.0, 20.0], 95, 19.5),
    ],
)
def test_percentile_interpolates_between_closest_ranks(values: list[float], pct: float, expected: float) -> None:
    assert percentile(values, pct) == pytest.approx(expected)


def test_percentile_of_nothing_is_none_and_out_of_range_is_refused() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], 101)


def test_per_hour_scales_to_an_hour() -> None:
    assert per_hour(30, 1800) == pytest.approx(60.0)
    assert per_hour(1, 1) == pytest.approx(3600.0)
    assert per_hour(5, 0) is None


def test_pick_accuracy_is_full_picks_over_confirmed() -> None:
    assert pick_accuracy(9, 10) == pytest.approx(0.9)
    assert pick_accuracy(0, 4) == 0.0
    assert pick_accuracy(0, 0) is None
    with pytest.raises(ValueError, match="picks in full"):
        pick_accuracy(5, 4)


# -- cycle times from history -----------------------------------------------------------
def test_an_outcome_takes_its_times_from_the_order_history() -> None:
    steps = [("PENDING", 0), ("RESERVED", 1), ("AWAITING_WAVE", 2), ("PICKING", 10), ("PACKED", 20)]
    order = OrderOutcome.from_view(view("o1", "DELIVERED", [*steps, ("SHIPPED", 42.5), ("DELIVERED", 100)]))
    assert (order.placed_at, order.seconds_to_ship, order.seconds_to_deliver) == (T0, 42.5, 100.0)
    assert order.terminal


def test_an_order_cancelled_before_shipping_has_no_cycle_time() -> None:
    order = OrderOutcome.from_view(view("o2", "CANCELLED", [("PENDING", 0), ("CANCELLED", 3)], "OUT_OF_STOCK"))
    assert (order.seconds_to_ship, order.seconds_to_deliver, order.cancel_reason) == (None, None, "OUT_OF_STOCK")
    assert order.terminal


def test_without_history_the_order_is_placed_at_its_creation() -> None:
    order = OrderOutcome.from_view({"order_id": "o3", "status": "PICKING", "history": [], "created_at": at(5)})
    assert order.placed_at == T0 + timedelta(seconds=5)
    assert not order.terminal
    broken = OrderOutcome.from_view({"order_id": "o4", "status": "PENDING", "history": [{"to_status": "PENDING"}]})
    assert broken.placed_at is None


def test_on_time_counts_shipped_within_the_sla_over_orders_due() -> None:
    outcomes = [
        outcome("fast", "DELIVERED", ship=60, deliver=90),
        outcome("exactly", "SHIPPED", ship=300),
        outcome("late", "DELIVERED", ship=301, deliver=400),
        outcome("never-shipped", "PICKING"),  # still open at the end: late
        outcome("out-of-stock", "CANCELLED"),  # never due to ship: left out
        outcome("failed-delivery", "CANCELLED", ship=100),  # shipped on time, then the delivery failed
    ]
    assert on_time_ship_rate(outcomes, 300) == pytest.approx(3 / 5)
    assert on_time_ship_rate([outcome("x", "CANCELLED")], 300) is None


# -- status timeline --------------------------------------------------------------------
def test_status_counts_lists_every_status_in_journey_order() -> None:
    counts = status_counts(["PICKING", "PENDING", "PICKING", "DELIVERED", "MYSTERY"])
    assert list(counts)[:9] == [
        "PENDING",
        "RESERVED",
        "PAYMENT_AUTHORIZED",
        "AWAITING_WAVE",
        "PICKING",
        "PACKED",
        "SHIPPED",
        "DELIVERED",
        "CANCELLED",
    ]
    assert (counts["PICKING"], counts["PENDING"], counts["DELIVERED"], counts["SHIPPED"]) == (2, 1, 1, 0)
    assert counts["MYSTERY"] == 1


def test_timeline_series_aligns_statuses_and_drops_those_never_seen() -> None:
    samples = [
        TimelineSample(0.0, {"PENDING": 2}),
        TimelineSample(1.0, {"PENDING": 1, "PICKING": 1}),
        TimelineSample(2.0, {"PICKING": 1, "DELIVERED": 1, "SHIPPED": 0}),
    ]
    times, series = timeline_series(samples)
    assert times == [0.0, 1.0, 2.0]
    assert series == {"PENDING": [2, 1, 0], "PICKING": [0, 1, 1], "DELIVERED": [0, 0, 1]}
    assert timeline_series([]) == ([], {})


# -- the summary ------------------------------------------------------------------------
def test_summary_of_a_run() -> None:
    outcomes = [
        outcome("a", "DELIVERED", ship=100, deliver=200),
        outcome("b", "DELIVERED", ship=200, deliver=400),
        outcome("c", "CANCELLED"),
        OrderOutcome("d", "CANCELLED", cancel_reason="DELIVERY_FAILED", placed_at=T0, shipped_at=T0),
        outcome("e", "PACKED"),
    ]
    outcomes[2] = OrderOutcome("c", "CANCELLED", cancel_reason="OUT_OF_STOCK", placed_at=T0)
    summary = summarize(outcomes, picks=PickTally(confirmed=10, in_full=8), elapsed_seconds=1800, ship_sla_seconds=150)
    assert summary.orders_placed == 5
    assert summary.orders_shipped == 3
    assert summary.orders_per_hour == pytest.approx(6.0)
    assert summary.lines_picked_per_hour == pytest.approx(20.0)
    assert summary.pick_accuracy == pytest.approx(0.8)
    assert (summary.placed_to_shipped.p50, summary.placed_to_shipped.count) == (100.0, 3)
    assert summary.placed_to_delivered.p50 == pytest.approx(300.0)
    assert summary.placed_to_delivered.p95 == pytest.approx(390.0)
    # a (100 s) and d (0 s) on time; b late; e never shipped; c never due.
    assert summary.on_time_ship_rate == pytest.approx(2 / 4)
    assert summary.by_status == {"PACKED": 1, "DELIVERED": 2, "CANCELLED": 2}
    assert summary.by_cancel_reason == {"DELIVERY_FAILED": 1, "OUT_OF_STOCK": 1}
    assert summary.non_terminal == ["e"]


def test_an_empty_run_has_no_figures_but_does_not_fail() -> None:
    summary = summarize([], picks=PickTally(), elapsed_seconds=0, ship_sla_seconds=300)
    assert (summary.orders_per_hour, summary.pick_accuracy, summary.on_time_ship_rate) == (None, None, None)
    assert summary.placed_to_shipped.p50 is None
    assert summary.non_terminal == []


# -- the floor's pure choices -----------------------------------------------------------
def test_an_order_is_packed_with_what_was_picked_once_no_task_is_open() -> None:
    tasks: list[dict[str, Any]] = [
        {"sku": "MUG-RED", "status": "PICKED", "picked_quantity": 2},
        {"sku": "MUG-RED", "status": "SHORT", "picked_quantity": 1},
        {"sku": "PEN-BLK", "status": "PICKED", "picked_quantity": 1},
        {"sku": "CAP-GRN", "status": "CANCELLED", "picked_quantity": None},
        {"sku": "TEE-BLK-M", "status": "SHORT", "picked_quantity": 0},
    ]
    assert picked_items(tasks) == [{"sku": "MUG-RED", "quantity": 3}, {"sku": "PEN-BLK", "quantity": 1}]
    assert picked_items([*tasks, {"sku": "MUG-RED", "status": "OPEN", "picked_quantity": None}]) is None
    assert picked_items([*tasks, {"sku": "MUG-RED", "status": "ASSIGNED", "picked_quantity": None}]) is None
    assert picked_items([]) is None
    assert picked_items([{"sku": "MUG-RED", "status": "SHORT", "picked_quantity": 0}]) is None


def test_a_short_carton_lacks_exactly_one_unit() -> None:
    import random

    items = [{"sku": "MUG-RED", "quantity": 2}, {"sku": "PEN-BLK", "quantity": 1}]
    for seed in range(10):
        short = one_unit_short(items, random.Random(seed))
        assert short is not None
        assert sum(i["quantity"] for i in short) == 2
        assert all(i["quantity"] > 0 for i in short)
    assert items == [{"sku": "MUG-RED", "quantity": 2}, {"sku": "PEN-BLK", "quantity": 1}]  # left as it was
    assert one_unit_short([{"sku": "MUG-RED", "quantity": 1}], random.Random(0)) is None


# -- the configuration ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"orders": 3, "rate_per_minute": 10.0, "duration_seconds": 60.0}, "either orders"),
        ({"orders": 0}, "at least 1"),
        ({"rate_per_minute": 10.0}, "duration_seconds"),
        ({"short_pick_rate": 1.5}, "short_pick_rate"),
        ({"recovery_rate": -0.1}, "recovery_rate"),
        ({"carrier_step_seconds": 0.01}, "carrier_step_seconds"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"pickers": 0}, "pickers"),
    ],
)
def test_a_bad_configuration_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config(**overrides)


def test_a_paced_run_expects_rate_times_duration_orders() -> None:
    assert config(rate_per_minute=30.0, duration_seconds=120.0).expected_orders == 60
    assert config(rate_per_minute=0.1, duration_seconds=60.0).expected_orders == 1
    assert config(orders=7).expected_orders == 7


# -- the report files -------------------------------------------------------------------
def make_result(*outcomes: OrderOutcome, samples: list[TimelineSample] | None = None) -> SimulationResult:
    run = config(orders=max(1, len(outcomes)), seed=3)
    summary = summarize(list(outcomes), picks=PickTally(4, 3), elapsed_seconds=60, ship_sla_seconds=300)
    return SimulationResult(
        config=run,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=61),
        outcomes=list(outcomes),
        summary=summary,
        timeline=samples or [],
        timed_out=False,
        counters={"pack_mismatches": 1},
    )


def test_the_report_is_json_with_a_png_chart_beside_it(tmp_path: Path) -> None:
    samples = [
        TimelineSample(
            float(t), {"PENDING": max(0, 2 - t), "PICKING": min(t, 2) if t < 4 else 0, "DELIVERED": 2 * (t >= 4)}
        )
        for t in range(6)
    ]
    result = make_result(
        outcome("a", "DELIVERED", ship=20, deliver=40), outcome("b", "DELIVERED", ship=25, deliver=50), samples=samples
    )
    json_path, png_path = write_report(result, tmp_path / "runs" / "sim.json")

    assert png_path == tmp_path / "runs" / "sim.png"
    assert png_path.read_bytes()[:8] == PNG_SIGNATURE
    report = json.loads(json_path.read_text())
    assert set(report) == {
        "started_at",
        "finished_at",
        "timed_out",
        "ok",
        "config",
        "summary",
        "counters",
        "orders",
        "timeline",
    }
    assert report["ok"] is True
    assert set(report["summary"]) >= {
        "orders_placed",
        "orders_per_hour",
        "lines_picked_per_hour",
        "cycle_time",
        "pick_accuracy",
        "on_time_ship_rate",
        "by_status",
        "by_cancel_reason",
        "non_terminal",
    }
    assert report["summary"]["cycle_time"]["placed_to_delivered"] == {
        "count": 2,
        "p50_seconds": 45.0,
        "p95_seconds": 49.5,
    }
    assert report["summary"]["pick_accuracy"] == 0.75
    assert [o["order_id"] for o in report["orders"]] == ["a", "b"]
    assert report["timeline"][0] == {"t": 0.0, "counts": {"PENDING": 2}}
    # The report holds no credential.
    assert "service_token" not in report["config"]
    assert "s" * 40 not in json_path.read_text()
    assert "operator" not in report["config"]


def test_a_run_with_no_order_still_writes_a_chart(tmp_path: Path) -> None:
    _, png_path = write_report(make_result(), tmp_path / "empty.json")
    assert png_path.read_bytes()[:8] == PNG_SIGNATURE


def test_an_open_order_fails_the_run() -> None:
    result = make_result(outcome("a", "DELIVERED", ship=1, deliver=2), outcome("b", "SHIPPED", ship=1))
    assert (result.ok, result.exit_code, result.summary.non_terminal) == (False, 1, ["b"])
    assert make_result(outcome("a", "CANCELLED")).exit_code == 0


def test_the_chart_never_overwrites_the_report() -> None:
    assert chart_path(Path("out/run.json")) == Path("out/run.png")
    assert chart_path(Path("out/run")) == Path("out/run.png")
    assert chart_path(Path("out/run.png")) == Path("out/run.png.png")
