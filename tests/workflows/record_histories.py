"""Record the histories replayed by ``test_replay.py``.

Run ``.venv/bin/python -m tests.workflows.record_histories`` after a
*deliberate* workflow change that ships with ``workflow.patched`` (so old
histories keep replaying) — never to paper over a non-determinism failure.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import WorkflowHistory

from tests.workflows.fakes import Fakes, order_input, running_worker, start_order, time_skipping_env, until_settled
from workflows.order_fulfillment import CancelRequest, OrderFulfillment

HISTORIES = Path(__file__).parent / "histories"


async def record() -> dict[str, WorkflowHistory]:
    recorded: dict[str, WorkflowHistory] = {}
    async with time_skipping_env() as env:
        fakes = Fakes(out_of_stock=False)
        async with running_worker(env.client, fakes) as tq:
            for name, card in (("accepted_then_cancelled", "tok_visa"), ("flaky_then_cancelled", "tok_flaky")):
                handle = await start_order(env.client, tq, order_input(order_id=name.replace("_", "-"), card=card))
                await until_settled(env, handle)
                await handle.execute_update(OrderFulfillment.cancel, CancelRequest(requested_by="alice"))
                await handle.result()
                recorded[name] = await handle.fetch_history()
            handle = await start_order(env.client, tq, order_input(order_id="declined", card="tok_declined"))
            await handle.result()
            recorded["declined"] = await handle.fetch_history()
        async with running_worker(env.client, Fakes(out_of_stock=True)) as tq:
            handle = await start_order(env.client, tq, order_input(order_id="out-of-stock"))
            await handle.result()
            recorded["out_of_stock"] = await handle.fetch_history()
    return recorded


def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    for name, history in asyncio.run(record()).items():
        path = HISTORIES / f"order_fulfillment_{name}.json"
        path.write_text(history.to_json())
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
