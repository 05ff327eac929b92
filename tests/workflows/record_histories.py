"""Record the histories replayed by ``test_replay.py``.

Run ``.venv/bin/python -m tests.workflows.record_histories`` after a
*deliberate* workflow change that ships with ``workflow.patched`` (so old
histories keep replaying) — never to paper over a non-determinism failure.

Histories of earlier code are never re-recorded: ``order_fulfillment_*.json``
without a version came from the code before ``PATCH_SAGA_ENDINGS`` and stay
as they are, so its old paths keep being replayed. This writes the ``v2_``
set, recorded with today's code.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import WorkflowFailureError, WorkflowHistory

from tests.workflows.fakes import Fakes, order_input, running_worker, start_order, time_skipping_env, until_settled
from workflows.order_fulfillment import CancelRequest, OrderFulfillment

HISTORIES = Path(__file__).parent / "histories"
VERSION = "v2"


async def _until_called(fakes: Fakes, name: str) -> None:
    for _ in range(400):
        if name in fakes.calls:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} never ran")


async def record() -> dict[str, WorkflowHistory]:
    recorded: dict[str, WorkflowHistory] = {}
    async with time_skipping_env() as env:
        fakes = Fakes()
        async with running_worker(env.client, fakes) as tq:
            handle = await start_order(env.client, tq, order_input(order_id="v2-accepted-then-cancelled"))
            await until_settled(env, handle)
            await handle.execute_update(
                OrderFulfillment.cancel, CancelRequest(reason="OUT_OF_STOCK", requested_by="olivia")
            )
            await handle.result()
            recorded["accepted_then_cancelled"] = await handle.fetch_history()

            handle = await start_order(env.client, tq, order_input(order_id="v2-declined", card="tok_declined"))
            await handle.result()
            recorded["declined"] = await handle.fetch_history()

            handle = await start_order(env.client, tq, order_input(order_id="v2-temporal-cancel"))
            await until_settled(env, handle)
            await handle.cancel()
            try:
                await handle.result()
            except WorkflowFailureError:
                pass
            recorded["temporal_cancel"] = await handle.fetch_history()

        held = Fakes(hold={"payments.authorize"})
        async with running_worker(env.client, held) as tq:
            handle = await start_order(env.client, tq, order_input(order_id="v2-cancel-mid-step"))
            await _until_called(held, "payments.authorize")
            await handle.execute_update(OrderFulfillment.cancel, CancelRequest(requested_by="alice"))
            held.release.set()
            await handle.result()
            recorded["cancel_mid_step"] = await handle.fetch_history()

        failing = Fakes(rejects={"inventory.release": "ReservationCommitted"})
        async with running_worker(env.client, failing) as tq:
            handle = await start_order(env.client, tq, order_input(order_id="v2-undo-failed", card="tok_declined"))
            await handle.result()
            recorded["undo_failed"] = await handle.fetch_history()
    return recorded


def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    for name, history in asyncio.run(record()).items():
        path = HISTORIES / f"order_fulfillment_{VERSION}_{name}.json"
        path.write_text(history.to_json())
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
