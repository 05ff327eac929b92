"""The CLIs against the running platform, and a full restart that keeps everything.

Runs last in the e2e layer: it restarts the shared platform.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from common.service_auth import service_headers
from common.settings import SERVICE_NAMES
from paklog.platform import LocalPlatform, _bin
from tests.e2e.conftest import login
from tests.e2e.test_orders_e2e import order_body, place, settle, stock

pytestmark = pytest.mark.e2e


def paklog(platform: LocalPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paklog", *args],
        env={**platform.child_env(), "PAKLOG_GATEWAY_URL": platform.gateway_url, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_paklog_order_place_status_cancel(platform: LocalPlatform) -> None:
    placed = paklog(platform, "order", "place", "--sku", "NOTE-A5:2")
    assert placed.returncode == 0, placed.stdout + placed.stderr
    order_id = placed.stdout.split("order ")[1].split()[0]
    status = paklog(platform, "order", "status", order_id)
    assert status.returncode == 0
    assert '"AWAITING_WAVE"' in status.stdout
    cancelled = paklog(platform, "order", "cancel", order_id)
    assert cancelled.returncode == 0, cancelled.stdout
    assert "CUSTOMER_CANCELLED" in cancelled.stdout


def test_migrate_and_seed_are_repeatable(platform: LocalPlatform) -> None:
    migrated = paklog(platform, "migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert migrated.stdout.count("migrated") == len(SERVICE_NAMES) + 1  # and the gateway's own database
    seeded = paklog(platform, "seed")
    assert seeded.returncode == 0, seeded.stderr
    assert "inventory: 0 created" in seeded.stdout
    assert "identity: 0 created" in seeded.stdout


def test_replay_of_a_history_exported_with_the_temporal_cli(platform: LocalPlatform, tmp_path: Path) -> None:
    placed = paklog(platform, "order", "place", "--sku", "PEN-BLK:1", "--card", "tok_declined")
    assert placed.returncode == 0 or "CANCELLED" in placed.stdout
    order_id = placed.stdout.split("order ")[1].split()[0]
    exported = subprocess.run(
        [
            _bin("temporal"),
            "workflow",
            "show",
            "--workflow-id",
            f"order-{order_id}",
            "--output",
            "json",
            "--address",
            platform.temporal_address,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    history_file = tmp_path / f"order-{order_id}.json"
    history_file.write_text(exported.stdout)
    assert json.loads(exported.stdout)["events"]
    by_file = paklog(platform, "replay", str(history_file))
    assert by_file.returncode == 0, by_file.stdout + by_file.stderr
    by_id = paklog(platform, "replay", "--workflow-id", f"order-{order_id}")
    assert by_id.returncode == 0, by_id.stdout + by_id.stderr
    assert "ok" in by_id.stdout


async def test_restart_keeps_orders_and_running_workflows(platform: LocalPlatform) -> None:
    alice = await login(platform, "alice", "alice-pass")
    async with httpx.AsyncClient(timeout=30, headers=service_headers(platform.service_token)) as services:
        order_id = await place(alice, order_body(("TEE-WHT-M", 1)))
        assert (await settle(alice, order_id))["status"] == "AWAITING_WAVE"
        stock_before_restart = await stock(services, platform, "TEE-WHT-M")
    await alice.aclose()

    # start() runs its own event loop (migrations), so it gets a thread.
    await asyncio.to_thread(platform.stop)
    await asyncio.to_thread(platform.start)

    alice = await login(platform, "alice", "alice-pass")
    try:
        async with httpx.AsyncClient(timeout=30, headers=service_headers(platform.service_token)) as services:
            assert (await alice.get(f"/api/orders/{order_id}")).json()["status"] == "AWAITING_WAVE"
            assert await stock(services, platform, "TEE-WHT-M") == stock_before_restart
            # The workflow survived the restart and still answers its cancel update.
            resp = await alice.post(f"/api/orders/{order_id}/cancel")
            assert resp.status_code == 200, resp.text
            on_hand, available, reserved = await stock(services, platform, "TEE-WHT-M")
            assert (on_hand, available, reserved) == (
                stock_before_restart[0],
                stock_before_restart[1] + 1,
                stock_before_restart[2] - 1,
            )
    finally:
        await alice.aclose()
