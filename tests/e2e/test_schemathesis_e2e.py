"""schemathesis over the live gateway's OpenAPI document: every check, as a customer and as an operator.

The run is seeded and bounded, so it takes about a minute and repeats
itself. It places real orders (the document's examples name a real SKU and a
real card); they belong to the run's own users and are waited for, so the
stock other tests measure has settled before they run.

Other tests' orders are safe from the operator, who may cancel any order:
its run never feeds ids seen in responses (``GET /api/orders`` lists every
order) back into requests, and the stateful phase, which follows such links,
is off. The customer's run does feed them back, since a fresh customer only
ever sees its own orders.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from common.service_auth import service_headers
from paklog.platform import LocalPlatform
from tests.e2e.conftest import login

pytestmark = pytest.mark.e2e

SEED = 20261123
MAX_EXAMPLES = 40
SETTLED = {"AWAITING_WAVE", "CANCELLED"}

CONFIG = """\
seed = {seed}
workers = 1
request-timeout = 30
# The gateway names its error bodies; keep the report readable.
color = false

[generation]
max-examples = {max_examples}
database = "none"

[phases.stateful]
enabled = false

# Every operation: a schema-valid string may still hold what no database stores (a NUL character,
# an unpaired surrogate): the edge refuses it, 422. (The entries below narrow or widen this per operation.)
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

[phases.examples.extra-data-sources]
responses = {feed_back}

[phases.coverage.extra-data-sources]
responses = {feed_back}

[phases.fuzzing.extra-data-sources]
responses = {feed_back}

# The document cannot say which SKUs exist or that all lines share a
# currency: a schema-valid order can still break those rules (422 UnknownSku,
# MixedCurrencies, QuantityTooLarge).
[[operations]]
include-operation-id = "place_order_api_orders_post"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

# Nor which cursors were given out: any other is 422 InvalidCursor. (Operation ids: the keys of one entry
# are alternatives, so include-path with include-method would take in every POST or GET.)
[[operations]]
include-operation-id = "list_orders_api_orders_get"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "422"]

# The warehouse floor's state decides what a schema-valid request meets: 404 for a wave, task or
# shipment that does not exist, 409 for one in another state (NothingToPlan, IllegalWaveTransition,
# NotReady, NotPicked, AddressLocked), 422 NotAShortPick.
[[operations]]
include-path-regex = "^/api/(waves|pick-tasks|shipments|carriers)|^/api/orders/[^/]+/(pack|shipping-address)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

# The identity doors: a schema-valid password can still be too weak (422), a generated reset code is
# nobody's (400 InvalidResetToken), a generated username or address may be taken (409).
[[operations]]
include-path-regex = "^/api/auth/(register|refresh|password-reset|password-reset/confirm)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422", "429"]

# Logging out would end the run's own token; a profile or password change would change, or (wrong current
# passwords count as failed logins) lock, the shared user. tests/e2e/test_identity_flows_e2e.py covers them.
[[operations]]
include-path = "/api/auth/logout"
enabled = false

# (Keys of one entry are alternatives: an operation id names the PUT alone.)
[[operations]]
include-operation-id = "update_me_api_me_put"
enabled = false

[[operations]]
include-path = "/api/me/password"
enabled = false

# "Sync now" would import the ERP's 5,000 materials into the shared platform's catalogue, which later tests
# read as seeded (simulate's orders all ended OUT_OF_STOCK after it). Its answers are checked against the
# document in test_gateway_contract_e2e (403, 503) and test_erp_sync_and_bench_e2e (202, on its own platform).
[[operations]]
include-operation-id = "sync_now_api_erp_sync_post"
enabled = false

# The operator stream of every order's changes never ends: for the operator the run could only time out
# on it (the customer's is a 403). Its refusals are in test_gateway_contract_e2e, its events in
# test_live_updates_e2e and tests/unit/test_gateway_operator_stream.py.
[[operations]]
include-operation-id = "all_order_events_api_orders_events_get"
enabled = false
"""


async def _new_customer(platform: LocalPlatform) -> tuple[str, str]:
    admin = await login(platform, "admin", "admin-pass")
    try:
        username = f"fuzz{uuid.uuid4().hex[:8]}"
        password = f"pw-{uuid.uuid4().hex}"
        async with httpx.AsyncClient(timeout=30) as raw:
            created = await raw.post(
                f"{platform.service_url('identity')}/users",
                json={
                    "username": username,
                    "email": f"{username}@example.com",
                    "full_name": "Schemathesis",
                    "password": password,
                    "role": "customer",
                },
                headers={"Authorization": admin.headers["Authorization"], **service_headers(platform.service_token)},
            )
        assert created.status_code == 201, created.text
        return username, password
    finally:
        await admin.aclose()


async def _settle_orders_of(http: httpx.AsyncClient, customer_id: str, wait_seconds: float = 90) -> int:
    """Wait until every order of ``customer_id`` has stopped moving stock; returns how many there are."""
    deadline = time.monotonic() + wait_seconds
    while True:
        resp = await http.get("/api/orders", params={"customer_id": customer_id, "limit": 200})
        assert resp.status_code == 200, resp.text
        orders = resp.json()["items"]
        moving = [o["order_id"] for o in orders if o["status"] not in SETTLED]
        if not moving:
            return len(orders)
        assert time.monotonic() < deadline, f"orders still moving: {moving}"
        await asyncio.sleep(0.5)


def _run_schemathesis(platform: LocalPlatform, token: str, *, feed_back: bool, tmp_path: Path) -> str:
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        CONFIG.format(seed=SEED, max_examples=MAX_EXAMPLES, feed_back=str(feed_back).lower()), encoding="utf-8"
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            f"{platform.gateway_url}/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {token}",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path / "report"),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    output = run.stdout + run.stderr
    print(output[-3000:])  # the summary, kept by pytest for a failing run
    assert run.returncode == 0, output[-20000:]
    return output


@pytest.mark.timeout(420)
@pytest.mark.parametrize("role", ["customer", "operator"])
async def test_schemathesis_finds_no_failure(platform: LocalPlatform, role: str, tmp_path: Path) -> None:
    if role == "customer":
        username, password = await _new_customer(platform)
    else:
        username, password = "olivia", "olivia-pass"
    http = await login(platform, username, password)
    try:
        token = http.headers["Authorization"].removeprefix("Bearer ")
        output = await asyncio.to_thread(
            _run_schemathesis, platform, token, feed_back=role == "customer", tmp_path=tmp_path
        )
        generated = re.search(r"(\d+) generated", output)
        assert generated is not None, output[-3000:]
        assert int(generated.group(1)) >= 100, output[-3000:]
        await _settle_orders_of(http, username)
    finally:
        await http.aclose()
