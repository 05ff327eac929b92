"""The warehouse floor's activities over httpx.MockTransport: paths, keys, bodies and error mapping."""

from __future__ import annotations

import json

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.base import ServiceCallError
from activities.inventory import AdjustReservation, CommitStock, InventoryClient, SkuList, StockActivities
from activities.orders import ChangeAddress, FulfilmentActivities, OrdersClient, ShipOrder, ShippedLine, ShippingAddress
from activities.payments import CaptureActivities, CapturePayment, PaymentsClient
from activities.shipping import BuyLabel, ChooseCarton, ShippingActivities, ShippingClient, VoidLabel
from activities.warehouse import (
    ConfirmTask,
    EnqueueOrder,
    HoldOrder,
    OrderRef,
    PickLine,
    PlanWave,
    Reallocate,
    WarehouseActivities,
    WarehouseClient,
    WaveRef,
)
from tests.activities.test_activities import TOKEN, Recorder, env

TASK = {
    "task_id": "t1",
    "wave_id": "w1",
    "order_id": "42",
    "sku": "MUG-RED",
    "location": "A-01-01-1",
    "lot": "L1",
    "quantity": 2,
    "picked_quantity": 1,
    "status": "SHORT",
    "pick_seq": 7,
}
ADDRESS = ShippingAddress(name="Alice", line1="1 Street", city="Berlin", postal_code="10115", country="DE")


def warehouse(recorder: Recorder, http: httpx.AsyncClient) -> WarehouseActivities:
    return WarehouseActivities(WarehouseClient(http, "http://warehouse", TOKEN))


async def test_enqueue_sends_the_lines_and_the_step_key() -> None:
    recorder = Recorder(201, {"order_id": "42", "status": "WAITING"})
    async with recorder.client() as http:
        state = await env().run(
            warehouse(recorder, http).enqueue,
            EnqueueOrder("42", [PickLine("MUG-RED", 2)], "EXPRESS", 3, "2026-11-24T10:00:00+00:00"),
        )
    assert state.status == "WAITING"
    request = recorder.requests[0]
    assert (request.url.path, request.headers["Idempotency-Key"]) == ("/backlog", "order-42:enqueue")
    assert json.loads(request.content)["lines"] == [{"sku": "MUG-RED", "quantity": 2}]


async def test_withdraw_of_an_order_on_the_floor_answers_released() -> None:
    recorder = Recorder(409, {"type": "OrderReleased", "detail": "in a released wave"})
    async with recorder.client() as http:
        state = await env().run(warehouse(recorder, http).withdraw, OrderRef("42"))
    assert state.status == "RELEASED"


async def test_hold_and_requeue_are_keyed_per_hold() -> None:
    recorder = Recorder(200, {"order_id": "42", "status": "HELD"})
    async with recorder.client() as http:
        held = await env().run(warehouse(recorder, http).hold, HoldOrder("42", 2))
        await env().run(warehouse(recorder, http).requeue, HoldOrder("42", 2))
    assert held.status == "HELD"
    assert [(r.url.path, r.headers["Idempotency-Key"]) for r in recorder.requests] == [
        ("/backlog/42/hold", "order-42:hold-2"),
        ("/backlog/42/requeue", "order-42:requeue-2"),
    ]


@pytest.mark.parametrize(("error", "status"), [("OrderReleased", "RELEASED"), ("OrderWithdrawn", "WITHDRAWN")])
async def test_a_hold_too_late_answers_the_state_instead_of_failing(error: str, status: str) -> None:
    recorder = Recorder(409, {"type": error, "detail": "too late"})
    async with recorder.client() as http:
        state = await env().run(warehouse(recorder, http).hold, HoldOrder("42", 1))
    assert state.status == status


async def test_a_hold_of_an_order_the_backlog_never_had_is_not_retried() -> None:
    recorder = Recorder(404, {"type": "BacklogNotFound", "detail": "not in the backlog"})
    async with recorder.client() as http:
        with pytest.raises(ApplicationError) as caught:
            await env().run(warehouse(recorder, http).hold, HoldOrder("42", 1))
    assert (caught.value.type, caught.value.non_retryable) == ("BacklogNotFound", True)


async def test_nothing_to_plan_is_not_retried() -> None:
    recorder = Recorder(409, {"type": "NothingToPlan", "detail": "no order waits"})
    async with recorder.client() as http:
        with pytest.raises(ApplicationError) as caught:
            await env("wave-w1").run(warehouse(recorder, http).plan_wave, PlanWave("w1", 10, 100))
    assert (caught.value.type, caught.value.non_retryable) == ("NothingToPlan", True)
    assert recorder.requests[0].headers["Idempotency-Key"] == "wave-w1:plan"


async def test_confirm_is_keyed_per_task_and_maps_the_task() -> None:
    recorder = Recorder(200, {"task": TASK, "short_quantity": 1})
    async with recorder.client() as http:
        confirmed = await env("pps-42").run(
            warehouse(recorder, http).confirm_task, ConfirmTask("t1", "A-01-01-1", "MUG-RED", "L1", 1, "pat")
        )
    assert (confirmed.task.status, confirmed.task.picked_quantity, confirmed.short_quantity) == ("SHORT", 1, 1)
    request = recorder.requests[0]
    assert (request.url.path, request.headers["Idempotency-Key"]) == ("/tasks/t1/confirm", "pps-42:confirm:t1")


async def test_reallocate_and_repick_keys_name_their_reference() -> None:
    recorder = Recorder(200, {"tasks": [TASK], "unallocated": 1})
    async with recorder.client() as http:
        acts = warehouse(recorder, http)
        found = await env("pps-42").run(acts.reallocate, Reallocate("42", "MUG-RED", 2, "t1"))
        await env("pps-42").run(acts.repick, Reallocate("42", "MUG-RED", 1, "2-MUG-RED"))
    assert (len(found.tasks), found.unallocated) == (1, 1)
    keys = [r.headers["Idempotency-Key"] for r in recorder.requests]
    assert keys == ["pps-42:reallocate:t1", "pps-42:repick:2-MUG-RED"]


async def test_return_picks_is_an_undo_left_to_the_compensation_policy() -> None:
    recorder = Recorder(409, {"type": "AlreadyIssued", "detail": "issued"})
    async with recorder.client() as http:
        with pytest.raises(ApplicationError) as caught:
            await env("pps-42").run(warehouse(recorder, http).return_picks, OrderRef("42"))
    assert (caught.value.type, caught.value.non_retryable) == ("AlreadyIssued", False)


async def test_wave_progress_reads_the_counts() -> None:
    recorder = Recorder(200, {"wave_id": "w1", "status": "PICKING", "counts": {"open": 2, "assigned": 1, "picked": 4}})
    async with recorder.client() as http:
        progress = await env("wave-w1").run(warehouse(recorder, http).wave_progress, WaveRef("w1"))
    assert (progress.unsettled, progress.picked, progress.short) == (3, 4, 0)
    assert recorder.requests[0].method == "GET"


async def test_stock_adjustments_are_keyed_by_operation_and_task() -> None:
    recorder = Recorder(200, {"order_id": "42", "status": "ACTIVE"})
    async with recorder.client() as http:
        acts = StockActivities(InventoryClient(http, "http://inventory", TOKEN))
        adjust = AdjustReservation("42", "MUG-RED", 1, "t1")
        await env("pps-42").run(acts.write_off, adjust)
        await env("pps-42").run(acts.top_up, adjust)
        await env("pps-42").run(acts.release_units, adjust)
        await env("pps-42").run(acts.commit, CommitStock("42"))
    assert [(r.url.path, r.headers["Idempotency-Key"]) for r in recorder.requests] == [
        ("/reservations/42/write-off", "pps-42:write-off:t1"),
        ("/reservations/42/top-up", "pps-42:top-up:t1"),
        ("/reservations/42/release-units", "pps-42:release-units:t1"),
        ("/reservations/42/commit", "pps-42:commit"),
    ]
    assert json.loads(recorder.requests[0].content) == {"sku": "MUG-RED", "quantity": 1, "reason": "SHORT_PICK"}


async def test_top_up_out_of_stock_is_final() -> None:
    recorder = Recorder(409, {"type": "OutOfStock", "detail": "none left"})
    async with recorder.client() as http:
        acts = StockActivities(InventoryClient(http, "http://inventory", TOKEN))
        with pytest.raises(ApplicationError) as caught:
            await env("pps-42").run(acts.top_up, AdjustReservation("42", "MUG-RED", 1, "t1"))
    assert caught.value.non_retryable


async def test_dimensions_read_each_sku_once() -> None:
    recorder = Recorder(200, {"sku": "X", "weight_grams": 350, "volume_cm3": 1200})
    async with recorder.client() as http:
        acts = StockActivities(InventoryClient(http, "http://inventory", TOKEN))
        found = await env().run(acts.dimensions, SkuList(["MUG-RED", "MUG-RED", "PEN-BLK"]))
    assert [(d.sku, d.weight_grams) for d in found] == [("MUG-RED", 350), ("PEN-BLK", 350)]
    assert [r.url.path for r in recorder.requests] == ["/products/MUG-RED", "/products/PEN-BLK"]


async def test_label_purchase_retries_when_no_carrier_answers() -> None:
    recorder = Recorder(503, {"type": "CarriersUnavailable", "detail": "all breakers open"})
    async with recorder.client() as http:
        acts = ShippingActivities(ShippingClient(http, "http://shipping", TOKEN))
        with pytest.raises(ServiceCallError):
            await env("pps-42").run(acts.buy_label, BuyLabel("42", "S", 700, 2400, "STANDARD", ADDRESS))
    request = recorder.requests[0]
    assert request.headers["Idempotency-Key"] == "pps-42:label"
    assert json.loads(request.content)["destination"]["postal_code"] == "10115"


async def test_carton_choice_and_label_void() -> None:
    carton = Recorder(200, {"code": "S", "volume_cm3": 6000, "max_weight_grams": 5000})
    void = Recorder(200, {"order_id": "42", "status": "VOIDED"})
    async with carton.client() as carton_http, void.client() as void_http:
        chosen = await env().run(
            ShippingActivities(ShippingClient(carton_http, "http://shipping", TOKEN)).choose_carton,
            ChooseCarton(700, 2400),
        )
        voided = await env("pps-42").run(
            ShippingActivities(ShippingClient(void_http, "http://shipping", TOKEN)).void_label, VoidLabel("42")
        )
    assert chosen.code == "S"
    assert "Idempotency-Key" not in carton.requests[0].headers
    assert voided.status == "VOIDED"
    assert void.requests[0].headers["Idempotency-Key"] == "pps-42:void_label"


async def test_ship_capture_and_address_change() -> None:
    orders = Recorder(200, {"order_id": "42", "status": "SHIPPED", "total_cents": 2400})
    payments = Recorder(200, {"order_id": "42", "status": "CAPTURED", "payment_id": "p1"})
    async with orders.client() as orders_http, payments.client() as payments_http:
        fulfilment = FulfilmentActivities(OrdersClient(orders_http, "http://orders", TOKEN))
        await env("pps-42").run(fulfilment.ship, ShipOrder("42", "SW1", "SWIFT", [ShippedLine("MUG-RED", 2)]))
        await env().run(fulfilment.change_address, ChangeAddress("42", ADDRESS, "u1"))
        captured = await env("pps-42").run(
            CaptureActivities(PaymentsClient(payments_http, "http://payments", TOKEN)).capture,
            CapturePayment("42", 1200),
        )
    ship, address = orders.requests
    assert json.loads(ship.content) == {
        "status": "SHIPPED",
        "tracking_code": "SW1",
        "carrier": "SWIFT",
        "shipped_lines": [{"sku": "MUG-RED", "quantity": 2}],
    }
    assert ship.headers["Idempotency-Key"] == "pps-42:status:SHIPPED"
    assert (address.method, address.url.path) == ("PUT", "/orders/42/shipping-address")
    assert address.headers["Idempotency-Key"] == "order-42:change_address:u1"
    assert captured.status == "CAPTURED"
    assert json.loads(payments.requests[0].content) == {"order_id": "42", "amount_cents": 1200}
