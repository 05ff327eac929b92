"""Recorded histories replay against today's code, so a non-deterministic change fails CI."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from workflows.order_fulfillment import OrderFulfillment, OrderFulfillmentInput, OrderFulfillmentResult

HISTORIES = sorted((Path(__file__).parent / "histories").glob("order_fulfillment_*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_histories_are_recorded() -> None:
    names = {path.stem.removeprefix("order_fulfillment_") for path in HISTORIES}
    assert names >= {"accepted_then_cancelled", "declined", "out_of_stock", "flaky_then_cancelled"}


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays_deterministically(path: Path) -> None:
    await Replayer(workflows=[OrderFulfillment]).replay_workflow(load(path))


@workflow.defn(name="OrderFulfillment")
class ReorderedOrderFulfillment(OrderFulfillment):
    """A careless edit: authorize before reserving."""

    async def _accept(self, params: OrderFulfillmentInput) -> None:
        from activities.payments import AuthorizePayment, PaymentsActivities
        from workflows.order_fulfillment import AUTHORIZE_TIMEOUT

        await self._step(
            PaymentsActivities.authorize,
            AuthorizePayment(params.order_id, 1, params.currency, params.card_token),
            start_to_close=AUTHORIZE_TIMEOUT,
        )
        await super()._accept(params)

    @workflow.run
    async def run(self, params: OrderFulfillmentInput) -> OrderFulfillmentResult:
        return await super().run(params)


async def test_replay_catches_a_non_deterministic_change() -> None:
    history = load(next(p for p in HISTORIES if "declined" in p.stem))
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[ReorderedOrderFulfillment]).replay_workflow(history)
