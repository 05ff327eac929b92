"""On a platform of their own: the master-data import, and the bench's saga phase.

A full import brings the ERP's 5,000 materials with their stock (into the
warehouse's stock-adjustment bin), and the bench stocks its SKU by hand,
without bins (``PUT /products``): the shared platform's later tests would
meet a catalogue and a stock check they do not expect, so these tests get a
private platform. The import's own stock check runs before the bench.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from common.service_auth import service_headers
from common.settings import TemporalSettings
from gateway.temporal import connect_temporal
from paklog import bench
from paklog.platform import LocalPlatform
from tests.e2e.conftest import e2e_platform, login
from tests.e2e.test_zz_restart_and_cli import paklog
from workflows.erp_sync import ErpSync
from workflows.erp_types import ErpSyncInput

pytestmark = pytest.mark.e2e

SKU = "MAT-00042"


@pytest.fixture(scope="module")
def own_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    running = e2e_platform(Path(tmp_path_factory.mktemp("own-platform")) / "state")
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def operator(own_platform: LocalPlatform) -> AsyncIterator[httpx.AsyncClient]:
    http = await login(own_platform, "olivia", "olivia-pass")
    try:
        yield http
    finally:
        await http.aclose()


@pytest.fixture
async def erp_services(own_platform: LocalPlatform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30, headers=service_headers(own_platform.service_token)) as http:
        yield http


async def patch(services: httpx.AsyncClient, url: str, values: dict[str, object]) -> dict[str, object]:
    etag = (await services.get(url)).headers["ETag"]
    resp = await services.patch(url, json=values, headers={"If-Match": etag})
    assert resp.status_code == 200, resp.text
    changed: dict[str, object] = resp.json()
    return changed


async def test_a_price_and_a_stock_count_changed_in_the_erp_arrive_with_the_next_sync(
    own_platform: LocalPlatform, operator: httpx.AsyncClient, erp_services: httpx.AsyncClient
) -> None:
    platform, olivia, services = own_platform, operator, erp_services
    erp = f"{platform.erp_url}/odata"
    material = await patch(services, f"{erp}/Materials('{SKU}')", {"Price": "77.25"})
    stock = await patch(services, f"{erp}/MaterialStock('{SKU}')", {"UnrestrictedStock": 321})

    client = await connect_temporal(TemporalSettings(temporal_address=platform.temporal_address))
    result = await client.execute_workflow(
        ErpSync.run, ErpSyncInput(), id=f"erp-sync-e2e-{uuid.uuid4().hex[:8]}", task_queue=platform.config.task_queue
    )
    assert [entity.entity for entity in result.entities] == ["materials", "customers", "stock"]

    product = (await olivia.get(f"/api/products/{SKU}")).json()
    assert (product["price_cents"], product["on_hand"]) == (7725, 321)
    # The import itself read both changes: its watermarks stand at (or past) them.
    sync = (await olivia.get("/api/erp/sync")).json()
    marks = {entity["entity"]: entity["watermark"] for entity in sync["entities"]}
    for entity, changed in (("materials", material), ("stock", stock)):
        mark = marks[entity]
        assert mark is not None, sync
        assert datetime.fromisoformat(mark["changed_at"]) >= datetime.fromisoformat(str(changed["LastChangedAt"]))

    # Every count the import set reached the warehouse's stock-adjustment bin: bins and on_hand agree for
    # every SKU, the 5,000 new ones included.
    checked = paklog(platform, "check", "stock")
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr
    assert "SKUs consistent" in checked.stdout
    # An operator puts five of the found units away into a real bin; the check still holds.
    warehouse = platform.service_url("warehouse")
    target = (await services.get(f"{warehouse}/locations", params={"zone": "A", "limit": 1})).json()[0]["code"]
    moved = paklog(platform, "stock", "move", SKU, "X-00-00-0", target, "5")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    rows = (await services.get(f"{warehouse}/stock", params={"sku": SKU})).json()
    assert {row["location"]: row["quantity"] for row in rows} == {"X-00-00-0": 316, target: 5}
    checked = paklog(platform, "check", "stock")
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr


async def test_the_bench_saga_and_its_no_op_twin_both_complete(own_platform: LocalPlatform) -> None:
    # A few of each, alternating as the bench does; a saga that ends anything but AWAITING_WAVE raises
    # (its SKU must be one the ERP knows: every order is exported).
    saga, noop = await bench._measure(own_platform, orders=4, concurrency=2, rounds=2)
    assert len(saga.latencies) == 4
    assert len(noop.latencies) == 4


async def test_the_bench_checkout_phase_runs(own_platform: LocalPlatform, capsys: pytest.CaptureFixture[str]) -> None:
    # On this platform: the phase stocks its SKU by hand (no bins) and leaves its orders waiting for a wave.
    # A smoke of the phase (a handful of orders); timing is the bench's to judge, never a test's.
    checkout = await bench.measure_checkout(own_platform, orders=20)
    assert len(checkout.latencies) == 20
    bench.print_checkout(checkout)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("checkout p50 ")
    assert lines[1].startswith("checkout ratio ")
    with capsys.disabled():
        print("\n" + "\n".join(lines))


async def test_sync_now_through_the_gateway_starts_the_import_once(
    own_platform: LocalPlatform, operator: httpx.AsyncClient
) -> None:
    # This platform runs no erp-sync Schedule: the gateway starts a run of its own under one fixed id.
    first = await operator.post("/api/erp/sync")
    assert first.status_code == 202, first.text
    assert first.json() == {"workflow_id": "erp-sync-run-now", "started": True}
    again = await operator.post("/api/erp/sync")
    assert again.status_code == 202, again.text
    assert again.json()["workflow_id"] == "erp-sync-run-now"  # the run going (or, once it ended, the next one)
    client = await connect_temporal(TemporalSettings(temporal_address=own_platform.temporal_address))
    result = await client.get_workflow_handle_for(ErpSync.run, "erp-sync-run-now").result()
    assert [entity.entity for entity in result.entities] == ["materials", "customers", "stock"]
