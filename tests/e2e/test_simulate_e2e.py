"""``paklog simulate`` against the real platform: every order reaches DELIVERED or CANCELLED, figures add up.

The second run restarts the gateway and the worker while parcels are moving:
the carrier stand-in keeps its events until the gateway acknowledges them,
so no order is left behind.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from paklog.platform import LocalPlatform
from tests.e2e.test_warehouse_e2e import clear_backlog


def simulate(platform: LocalPlatform, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "paklog", "simulate", "--gateway", platform.gateway_url, *args],
        env={**platform.child_env(), "PAKLOG_CARRIERS_URL": platform.carriers_url, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )


async def test_simulate_twelve_orders_to_the_end(
    platform: LocalPlatform, olivia: httpx.AsyncClient, tmp_path: Path
) -> None:
    await clear_backlog(olivia)
    report = tmp_path / "run.json"
    run = simulate(
        platform,
        *("--orders", "12", "--seed", "7", "--carrier-step", "0.2", "--timeout", "300"),
        *("--short-pick-rate", "0.1", "--pack-mismatch-rate", "0.15", "--exception-rate", "0.25"),
        *("--recovery-rate", "0.5", "--report", str(report)),
    )
    output, _ = run.communicate(timeout=400)
    assert run.returncode == 0, output
    assert "orders shipped per hour" in output, output
    written = json.loads(report.read_text())
    summary = written["summary"]
    assert summary["orders_placed"] == 12
    assert summary["non_terminal"] == []
    assert sum(summary["by_status"].values()) == 12
    assert set(summary["by_status"]) <= {"DELIVERED", "CANCELLED"}
    assert summary["by_status"].get("DELIVERED", 0) >= 1
    assert set(summary["by_cancel_reason"]) <= {"DELIVERY_FAILED", "OUT_OF_STOCK"}
    assert summary["cycle_time"]["placed_to_delivered"]["count"] == summary["by_status"].get("DELIVERED", 0)
    assert 0 < summary["pick_accuracy"] <= 1
    assert report.with_suffix(".png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


async def delivered_events(services: httpx.AsyncClient, platform: LocalPlatform) -> set[int]:
    resp = await services.get(f"{platform.carriers_url}/events", params={"state": "delivered", "limit": 1000})
    assert resp.status_code == 200, resp.text
    return {e["id"] for e in resp.json()}


async def test_restarting_the_gateway_and_the_worker_during_a_simulation_loses_nothing(
    platform: LocalPlatform, olivia: httpx.AsyncClient, services: httpx.AsyncClient
) -> None:
    await clear_backlog(olivia)
    earlier = await delivered_events(services, platform)
    run = simulate(platform, "--orders", "6", "--seed", "11", "--carrier-step", "0.5", "--timeout", "300")
    # Once this run's parcels are on the road, the gateway (the webhook's door) and the worker go down.
    deadline = time.monotonic() + 180
    while not await delivered_events(services, platform) - earlier:
        assert run.poll() is None, run.communicate()[0]
        assert time.monotonic() < deadline, "no tracking event of this run was ever delivered"
        await asyncio.sleep(0.2)
    platform.kill("gateway", keep_down=True)
    platform.kill("worker", keep_down=True)
    await asyncio.sleep(4)  # parcels keep moving: the stand-in cannot reach the gateway and holds its events
    held = (await services.get(f"{platform.carriers_url}/events", params={"state": "pending", "limit": 1000})).json()
    tried = [e for e in held if e["attempts"] >= 1]
    platform.respawn("worker")  # starts it (without waiting), so the gateway's health wait sees no dead child
    platform.respawn("gateway")
    output, _ = await asyncio.to_thread(run.communicate, timeout=400)
    assert run.returncode == 0, output  # every order DELIVERED or CANCELLED: no event was lost
    # The fault landed: events were posted while the gateway was down; each got through on a later attempt.
    assert tried, held
    final = {e["id"]: e for e in (await services.get(f"{platform.carriers_url}/events", params={"limit": 1000})).json()}
    for event in tried:
        assert final[event["id"]]["state"] == "delivered", final[event["id"]]
        assert final[event["id"]]["attempts"] >= 2
