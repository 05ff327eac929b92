"""The web app in a real browser (Debian's Chromium, headless, driven by Playwright) against the real platform.

The gateway serves the built app (``web/dist``; ``make test`` builds it first). Each step's screenshot is
written to ``.artifacts/web/<test>/`` (gitignored) for a person to look at.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from temporalio.client import WorkflowExecutionStatus

from common.service_auth import service_headers
from common.settings import TemporalSettings
from gateway.temporal import connect_temporal
from gateway.web import DEFAULT_DIST
from paklog.platform import LocalPlatform

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "web"
#: Long enough for a saga step on a loaded 2-core machine; every wait ends as soon as the page shows it.
STEP_MS = 60_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    # A page shows what it is told within seconds; on a loaded 2-core machine give it more than the default 5 s.
    expect.set_options(timeout=15_000)
    assert (DEFAULT_DIST / "index.html").is_file(), "the web app is not built: run `make web` (make test does)"
    assert Path(CHROMIUM).is_file(), "Chromium is missing: `apt-get install chromium` (make test does)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Steps:
    """A page plus numbered screenshots of each step it reaches."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()

    def shot(self, name: str) -> None:
        self.count += 1
        self.page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)


@pytest.fixture
def steps(browser: Browser, platform: LocalPlatform, request: pytest.FixtureRequest) -> Iterator[Steps]:
    context = browser.new_context(base_url=platform.gateway_url, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(STEP_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    try:
        yield Steps(page, ARTIFACTS / request.node.name)
    finally:
        context.close()
    assert not errors, errors  # no script error and nothing the page's CSP refused


def sign_in(steps: Steps, username: str, password: str) -> None:
    page = steps.page
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    steps.shot("sign-in")
    page.get_by_role("button", name="Sign in").click()


def check_out(steps: Steps, sku: str, card_label: str) -> None:
    page = steps.page
    expect(page.get_by_role("heading", name="Catalogue")).to_be_visible()
    page.get_by_label("Search products").fill(sku)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("count")).to_have_text("1 product")
    product = page.locator(f'article[data-sku="{sku}"]')
    expect(product).to_be_visible()
    steps.shot("catalogue")
    product.get_by_role("button", name=re.compile("Add .* to the cart")).click()
    page.get_by_role("link", name="Go to the cart").click()
    expect(page.get_by_role("heading", name="Cart and checkout")).to_be_visible()
    page.get_by_label("Full name").fill("Alice Customer")
    page.get_by_label("Street and number").fill("1 Example Street")
    page.get_by_label("City").fill("Berlin")
    page.get_by_label("Postal code").fill("10115")
    page.get_by_label(card_label).check()
    steps.shot("checkout")
    page.get_by_role("button", name="Place order").click()


def test_a_customer_places_an_order_watches_it_live_and_cancels_it(steps: Steps) -> None:
    page = steps.page
    sign_in(steps, "alice", "alice-pass")
    check_out(steps, "MUG-RED", "Visa test card (approved)")
    decision = page.get_by_test_id("decision")
    expect(decision).to_contain_text("Order accepted", timeout=STEP_MS)
    steps.shot("accepted")

    decision.get_by_role("link", name=re.compile("Follow order")).click()
    expect(page.get_by_test_id("live")).to_have_text("Live")
    # The saga goes on after the answer: the stream brings the order to the warehouse's queue.
    expect(page.locator('[data-status="AWAITING_WAVE"]')).to_have_attribute("data-state", "current", timeout=STEP_MS)
    expect(page.locator('[data-status="PAYMENT_AUTHORIZED"]')).to_have_attribute("data-state", "done")
    steps.shot("order-live")

    page.get_by_role("button", name="Cancel this order").click()
    # The cancellation arrives through the event stream (the timeline is never reloaded from the order).
    expect(page.locator("li.cancelled")).to_contain_text("You cancelled the order.", timeout=STEP_MS)
    expect(page.get_by_test_id("status")).to_have_text("Cancelled")
    compensations = page.get_by_test_id("compensations")
    expect(compensations).to_contain_text("The card authorization was released")
    expect(compensations).to_contain_text("The reserved items were put back in stock.")
    expect(page.get_by_role("button", name="Cancel this order")).to_have_count(0)
    expect(page.get_by_test_id("payment")).to_have_text("Released (not charged)")
    steps.shot("cancelled")
    # Opened again later, the order page asks the order (its workflow) for what was undone.
    page.reload()
    expect(page.get_by_test_id("status")).to_have_text("Cancelled")
    compensations = page.get_by_test_id("compensations")
    expect(compensations).to_contain_text("The card authorization was released")
    expect(compensations).to_contain_text("The reserved items were put back in stock.")
    steps.shot("cancelled-reloaded")

    page.get_by_role("link", name="My orders").click()
    expect(page.get_by_role("heading", name="My orders")).to_be_visible()
    expect(page.locator("tbody tr").first).to_contain_text("Cancelled")
    steps.shot("my-orders")


def test_a_declined_card_shows_its_reason(steps: Steps) -> None:
    page = steps.page
    sign_in(steps, "alice", "alice-pass")
    check_out(steps, "TEE-BLK-M", "Declined test card")
    decision = page.get_by_test_id("decision")
    expect(decision).to_contain_text("Your order was not accepted.", timeout=STEP_MS)
    expect(decision).to_contain_text("The card was declined by the bank.")
    steps.shot("declined")
    # The cart is kept, so another card can be tried at once.
    expect(page.get_by_role("button", name="Place order")).to_be_visible()


def test_a_wrong_password_is_said_in_words_and_a_customer_sees_no_console(steps: Steps) -> None:
    page = steps.page
    sign_in(steps, "alice", "not-her-password")
    expect(page.get_by_role("alert")).to_have_text("That username and password do not match.")
    steps.shot("wrong-password")
    page.get_by_label("Password").fill("alice-pass")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Catalogue")).to_be_visible()
    expect(page.get_by_role("link", name="All orders")).to_have_count(0)
    page.goto("/ops/orders")  # a deep link to the console sends a customer back to the catalogue
    expect(page.get_by_role("heading", name="Catalogue")).to_be_visible()


def test_a_new_customer_registers_and_never_sees_another_customers_order(steps: Steps, platform: LocalPlatform) -> None:
    with closing(_api(platform, "alice", "alice-pass")) as alice:
        placed = alice.post("/api/orders", params={"wait": "accepted"}, json=_order_body("MUG-RED", 1))
        assert placed.status_code == 201, placed.text
        alices_order = placed.json()["order_id"]
    page = steps.page
    page.goto("/")
    page.get_by_role("link", name="Create an account").click()
    # The sign-in page has a "Username" too: fill only once the registration form is there.
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    username = f"bea{secrets.token_hex(3)}"
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Name (optional)").fill("Bea Newcomer")
    page.get_by_label("Password").fill("bea-long-password")
    steps.shot("register")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Catalogue")).to_be_visible()
    expect(page.get_by_text("Bea Newcomer")).to_be_visible()

    page.get_by_role("link", name="My orders").click()
    expect(page.get_by_role("heading", name="My orders")).to_be_visible()
    expect(page.get_by_text("No orders yet.")).to_be_visible()
    expect(page.get_by_role("link", name=alices_order)).to_have_count(0)
    page.goto(f"/orders/{alices_order}")  # someone else's order is indistinguishable from none
    expect(page.get_by_role("alert")).to_have_text("We could not find that. It may not exist, or it is not yours.")
    expect(page.get_by_test_id("timeline")).to_have_count(0)
    steps.shot("not-yours")


def test_an_operator_filters_orders_by_reason_and_date(steps: Steps, platform: LocalPlatform) -> None:
    with closing(_api(platform, "alice", "alice-pass")) as alice:
        body = _order_body("MUG-RED", 1) | {"payment": {"card_token": "tok_declined"}}
        declined = alice.post("/api/orders", params={"wait": "accepted"}, json=body)
        assert declined.json()["cancel_reason"] == "PAYMENT_DECLINED", declined.text
        order_id = declined.json()["order_id"]
    page = steps.page
    sign_in(steps, "olivia", "olivia-pass")
    expect(page.get_by_role("heading", name="All orders")).to_be_visible()
    today = datetime.datetime.now().astimezone().date()  # the browser's calendar is this machine's
    page.get_by_label("Reason").select_option(label="Payment declined")
    page.get_by_label("Placed from").fill((today - datetime.timedelta(days=1)).isoformat())
    page.get_by_label("Placed to").fill((today + datetime.timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"reason=PAYMENT_DECLINED"))
    expect(page.get_by_role("link", name=order_id)).to_be_visible()
    expect(page.locator("tbody tr").filter(has_not_text="declined")).to_have_count(0)
    steps.shot("orders-filtered")
    page.reload()  # the filters are in the URL: the same list after a reload
    expect(page.get_by_label("Reason")).to_have_value("PAYMENT_DECLINED")
    expect(page.get_by_role("link", name=order_id)).to_be_visible()


def _api(platform: LocalPlatform, username: str, password: str) -> httpx.Client:
    http = httpx.Client(base_url=platform.gateway_url, timeout=60)
    resp = http.post("/api/auth/token", data={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    http.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"
    return http


def _order_body(sku: str, quantity: int) -> dict[str, object]:
    return {
        "lines": [{"sku": sku, "quantity": quantity}],
        "shipping_address": {
            "name": "Alice Customer",
            "line1": "1 Example Street",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
        "payment": {"card_token": "tok_visa"},
    }


def _clear_backlog(olivia: httpx.Client) -> None:
    """Cancel the orders other tests left waiting for a wave, so the wave planned here holds only this one."""
    page = olivia.get("/api/orders", params={"status": "AWAITING_WAVE", "limit": 200}).json()
    for order in page["items"]:
        olivia.post(f"/api/orders/{order['order_id']}/cancel", json={"reason": "OPERATOR_CANCELLED"})


def test_an_operator_plans_a_wave_picks_and_packs_an_order_to_shipped(steps: Steps, platform: LocalPlatform) -> None:
    with (
        closing(_api(platform, "olivia", "olivia-pass")) as olivia,
        closing(_api(platform, "alice", "alice-pass")) as alice,
    ):
        _clear_backlog(olivia)
        placed = alice.post("/api/orders", params={"wait": "accepted"}, json=_order_body("MUG-BLU", 2))
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["order_id"]

    page = steps.page
    sign_in(steps, "olivia", "olivia-pass")
    expect(page.get_by_role("heading", name="All orders")).to_be_visible()
    expect(page.get_by_role("link", name=order_id).first).to_be_visible()
    steps.shot("console")

    page.get_by_role("link", name="Waves").click()
    page.get_by_role("button", name="Plan a wave now").click()
    note = page.get_by_test_id("wave-note")
    expect(note).to_contain_text("planned with 1 order")
    wave_id = note.get_attribute("data-wave")
    assert wave_id
    page.get_by_role("button", name=f"Release {wave_id}").click()
    expect(note).to_contain_text("released to the floor")
    steps.shot("wave-released")

    page.get_by_role("link", name="Pick", exact=True).click()
    page.get_by_label("Wave (optional)").fill(wave_id)
    for _ in range(10):
        page.get_by_role("button", name="Next task").click()
        task = page.get_by_test_id("task")
        none = page.get_by_text("No open pick task right now.")
        expect(task.or_(none)).to_be_visible()
        if none.is_visible():
            break
        page.get_by_label("Scan location").fill(page.get_by_test_id("task-location").inner_text())
        page.get_by_label("Scan SKU").fill(page.get_by_test_id("task-sku").inner_text())
        page.get_by_label("Scan lot").fill(page.get_by_test_id("task-lot").inner_text())
        page.get_by_label("Quantity").fill(page.get_by_test_id("task-quantity").inner_text())
        steps.shot("pick-task")
        page.get_by_role("button", name="Confirm pick").click()
        expect(page.get_by_text(re.compile(r"Task .* picked\."))).to_be_visible()
    else:
        raise AssertionError("the wave kept handing out tasks")
    steps.shot("picked")

    page.get_by_role("link", name="Pack", exact=True).click()
    page.get_by_label("Order id").fill(order_id)
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("heading", name=re.compile(f"Order {order_id}"))).to_be_visible()
    # Picks are confirmed; the order reaches the packing bench once its pick-pack-ship run sees them.
    scan = page.get_by_label("Scan item (SKU)")
    scan.fill("MUG-BLU")
    page.get_by_role("button", name="Add to carton").click()
    expect(page.get_by_test_id("difference")).to_contain_text("1 still to scan")
    steps.shot("pack-difference")
    scan.fill("MUG-BLU")
    page.get_by_role("button", name="Add to carton").click()
    expect(page.get_by_test_id("difference")).to_contain_text("matches")
    page.get_by_role("button", name="Close the carton").click()
    expect(page.get_by_text(re.compile(r"^Packed in a size \w+ carton"))).to_be_visible()
    # The packer's screen follows the order until the carrier's label is there, then links the PDF.
    label = page.get_by_test_id("label").get_by_role("link", name="Open the label PDF")
    expect(label).to_be_visible(timeout=STEP_MS)
    expect(page.get_by_test_id("pack-status")).to_have_text("Shipped")
    expect(label).to_have_attribute("data-type", "application/pdf")
    href = label.get_attribute("href")
    assert href is not None
    assert href.startswith("blob:")
    with page.expect_popup() as opened:
        label.click()
    assert opened.value.url == href
    opened.value.close()
    steps.shot("packed")

    page.goto(f"/orders/{order_id}")
    # The carrier may already have moved the parcel on (its pace is the stand-in's): SHIPPED is reached.
    shipped = page.locator('[data-status="SHIPPED"]')
    expect(shipped).to_have_attribute("data-state", re.compile(r"^(current|done)$"), timeout=STEP_MS)
    expect(page.get_by_test_id("live")).to_have_text(re.compile(r"^(Live|Final)$"))
    expect(page.get_by_test_id("payment")).to_have_text("Charged")
    expect(page.get_by_test_id("workflow-link")).to_have_attribute("href", re.compile(f"/workflows/order-{order_id}$"))
    steps.shot("shipped")


def test_the_order_page_reconnects_after_a_gateway_restart(steps: Steps, platform: LocalPlatform) -> None:
    """The gateway goes away under an open order page; when it is back, the page resumes its live timeline."""
    page = steps.page
    sign_in(steps, "alice", "alice-pass")
    expect(page.get_by_role("heading", name="Catalogue")).to_be_visible()
    with closing(_api(platform, "alice", "alice-pass")) as alice:
        placed = alice.post("/api/orders", params={"wait": "accepted"}, json=_order_body("TEE-WHT-M", 1))
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["order_id"]
    page.goto(f"/orders/{order_id}")
    expect(page.locator('[data-status="AWAITING_WAVE"]')).to_have_attribute("data-state", "current", timeout=STEP_MS)
    expect(page.get_by_test_id("live")).to_have_text("Live")

    platform.kill("gateway", keep_down=True)
    try:
        expect(page.get_by_test_id("live")).to_have_text("Reconnecting…")
        steps.shot("gateway-down")
    finally:
        platform.respawn("gateway")
    expect(page.get_by_test_id("live")).to_have_text("Live")
    # A change made after the restart reaches the page through the reopened stream (sent with Last-Event-ID).
    with closing(_api(platform, "alice", "alice-pass")) as alice:
        cancelled = alice.post(f"/api/orders/{order_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
    expect(page.locator("li.cancelled")).to_contain_text("You cancelled the order.", timeout=STEP_MS)
    expect(page.get_by_test_id("status")).to_have_text("Cancelled")
    steps.shot("reconnected")


def _end_sync_run(platform: LocalPlatform, workflow_id: str) -> None:
    """Terminate the ERP import run if it is still going (from a thread: Playwright's loop owns this one)."""

    async def end() -> None:
        client = await connect_temporal(TemporalSettings(temporal_address=platform.temporal_address))
        handle = client.get_workflow_handle(workflow_id)
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate(reason="e2e: the shared platform keeps its seeded catalogue")

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, end()).result(timeout=60)


def test_an_operator_syncs_the_erp_now(steps: Steps, platform: LocalPlatform) -> None:
    # A real import would bring the ERP's 5,000 materials into the shared platform's catalogue, which other
    # tests read as seeded: with the ERP in an outage the run imports nothing, and it is ended after.
    control = httpx.Client(base_url=platform.erp_url, headers=service_headers(platform.service_token), timeout=30)
    with closing(control):
        assert control.post("/control", json={"outage": True}).status_code == 200
        try:
            page = steps.page
            sign_in(steps, "olivia", "olivia-pass")
            page.get_by_role("link", name="ERP").click()
            expect(page.get_by_role("heading", name="ERP sync")).to_be_visible()
            page.get_by_role("button", name="Sync now").click()
            said = page.get_by_test_id("sync-now")
            expect(said).to_contain_text(re.compile(r"Started the import now|already running|The import"))
            steps.shot("erp-sync-now")
        finally:
            _end_sync_run(platform, "erp-sync-run-now")
            assert control.post("/control", json={"outage": False}).status_code == 200
