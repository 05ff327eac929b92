"""``paklog dev``'s supervisor on the real platform: a worker killed with SIGKILL comes back by itself."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from paklog.platform import LocalPlatform
from tests.e2e.test_orders_e2e import order_body, place, settle

pytestmark = pytest.mark.e2e


def _wait_for_new_pid(platform: LocalPlatform, label: str, old: int, timeout: float = 30) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = platform.pid(label)
        if pid not in (None, old):
            return pid
        time.sleep(0.1)
    return None


async def test_a_killed_worker_is_restarted_and_orders_complete(
    platform: LocalPlatform, alice: httpx.AsyncClient
) -> None:
    before = platform.pid("worker")
    assert before is not None
    events_before = len(platform.events)

    platform.kill("worker")  # SIGKILL, as a crash would; nothing calls respawn_worker()

    after = await asyncio.to_thread(_wait_for_new_pid, platform, "worker", before)
    assert after not in (None, before), "the supervisor did not restart the worker"
    (event,) = [e for e in platform.events[events_before:] if e.label == "worker"]
    assert event.exit_code == -9
    assert event.restarts >= 1  # earlier tests may have killed the worker too
    assert platform.failure is None

    order_id = await place(alice, order_body(("MUG-RED", 1)))
    assert (await settle(alice, order_id, wait_seconds=90))["status"] == "AWAITING_WAVE"
    assert platform.pid("worker") == after
