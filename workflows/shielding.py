"""Run a step of a workflow to its end even when the workflow is cancelled meanwhile.

Compensations, and the steps after goods issue, must not stop half-way: a
Temporal cancel (Web UI, ``temporal workflow cancel``, a parent) arriving
while they run is noted and otherwise ignored. Deterministic; passed through
the sandbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def run_to_end(step: Awaitable[T]) -> tuple[T, bool]:
    """Await ``step`` to the end through any number of cancels.

    Returns:
        The step's result, and whether a cancel arrived meanwhile.
    """
    task = asyncio.ensure_future(step)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    return task.result(), cancelled
