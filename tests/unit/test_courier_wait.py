"""The carrier stand-in's courier stops when told, even if work was signalled at that very moment."""

from __future__ import annotations

import asyncio

import pytest

from services.carriers.courier import _wait


async def test_a_cancel_that_lands_with_the_wake_up_is_not_lost() -> None:
    # Python 3.11's asyncio.wait_for returned normally here (the cancel swallowed), so a
    # stopping courier's loop went on and the app's shutdown waited for it forever.
    for _ in range(50):
        wake = asyncio.Event()
        waiting = asyncio.create_task(_wait(wake, None))
        await asyncio.sleep(0)  # it is waiting now
        wake.set()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting


async def test_it_wakes_when_told_and_times_out_otherwise() -> None:
    wake = asyncio.Event()
    waiting = asyncio.create_task(_wait(wake, None))
    await asyncio.sleep(0)
    wake.set()
    await asyncio.wait_for(waiting, 5)  # returns: woken
    await _wait(asyncio.Event(), 0.0)  # a due time already passed: returns at once
