"""`make bench`'s saga phase runs on the real platform: its orders are accepted, ERP export included."""

from __future__ import annotations

from paklog import bench
from paklog.platform import LocalPlatform


async def test_the_bench_saga_and_its_no_op_twin_both_complete(platform: LocalPlatform) -> None:
    # A few of each, alternating as the bench does; a saga that ends anything but AWAITING_WAVE raises.
    saga, noop = await bench._measure(platform, orders=4, concurrency=2, rounds=2)
    assert len(saga.latencies) == 4
    assert len(noop.latencies) == 4
