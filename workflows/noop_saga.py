"""NoopSaga: the benchmark's baseline, as many activities as the order saga, doing nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.noop import NoopInput, noop

# The order saga's happy path up to the wave backlog: create, reserve, transition, authorize,
# transition, export (the ERP's sales order), enqueue (the warehouse hand-over's first step),
# transition, notify.
STEPS = (
    "create",
    "reserve",
    "reserved",
    "authorize",
    "authorized",
    "export",
    "enqueue",
    "awaiting_wave",
    "notify",
)
#: The first five run as local activities, as the saga's accept path does (``accept-in-one-task``).
LOCAL_STEPS = 5
NOOP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_attempts=10)


@dataclass(frozen=True)
class NoopSagaInput:
    label: str


@dataclass(frozen=True)
class NoopSagaResult:
    label: str
    steps: int


@workflow.defn(name="NoopSaga")
class NoopSaga:
    """Run ``bench.noop`` once per order-saga step, sequentially, with the same timeouts and the same kind
    (local or not) of activity."""

    @workflow.run
    async def run(self, params: NoopSagaInput) -> NoopSagaResult:
        for index, step in enumerate(STEPS):
            execute = workflow.execute_local_activity if index < LOCAL_STEPS else workflow.execute_activity
            await execute(
                noop, NoopInput(step=step), start_to_close_timeout=timedelta(seconds=10), retry_policy=NOOP_RETRY
            )
        return NoopSagaResult(label=params.label, steps=len(STEPS))
