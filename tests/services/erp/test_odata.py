"""The ERP stand-in's OData-style reading and writing (docs/erp.md, part A), against real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from services.erp.app import main
from services.erp.models import is_ean13
from services.erp.odata import format_ts, parse_ts
from services.erp.settings import ErpSettings
from services.erp.store import tick
from services.erp.tables import clock, materials
from services.identity.seed import DEMO_USERS
from services.inventory.seed import DEMO_PRODUCTS
from tests.services.erp.helpers import MATERIALS, change, entity, events, new_database, sales_order, stand_in, walk


def without_stamps(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "LastChangedAt"} for row in rows]


async def test_the_first_start_seeds_the_documented_master_data_once(postgres_url: str) -> None:
    database = new_database(postgres_url)
    started = time.monotonic()
    async with stand_in(database, materials=5000, customers=1000) as (client, app):
        seconds = time.monotonic() - started
        materials = await walk(client, "/odata/Materials?$top=1000")
        customers = await walk(client, "/odata/Customers?$top=1000")
        stock = await walk(client, "/odata/MaterialStock?$top=1000")
        async with app.state.desk.store.engine.connect() as conn:
            seeded_at = (await conn.execute(select(clock.c.seeded_at))).scalar_one()
    # Bulk inserts: a second or two on a quiet machine (the bound leaves room for a busy one).
    assert seconds < 20, seconds

    assert len(materials) == len(stock) == len(DEMO_PRODUCTS) + 5000
    by_key = {m["Material"]: m for m in materials}
    assert by_key["MUG-RED"] | {"LastChangedAt": None, "InternationalArticleNumber": None} == {
        "Material": "MUG-RED",
        "MaterialDescription": "Red mug",
        "BaseUnit": "EA",
        "GrossWeight": "0.350",
        "WeightUnit": "KG",
        "Volume": "1.200",
        "VolumeUnit": "L",
        "InternationalArticleNumber": None,
        "Price": "12.00",
        "Currency": "EUR",
        "LastChangedAt": None,
        "@odata.etag": 'W/"1"',
    }
    for sku, product in DEMO_PRODUCTS.items():
        assert by_key[sku]["MaterialDescription"] == product.name
        assert by_key[sku]["Price"] == f"{product.price_cents / 100:.2f}"
    assert {s["Material"]: s["UnrestrictedStock"] for s in stock if s["Material"] in DEMO_PRODUCTS} == {
        sku: product.on_hand for sku, product in DEMO_PRODUCTS.items()
    }
    assert {s["Plant"] for s in stock} == {"1000"}
    generated = [m for m in materials if m["Material"].startswith("MAT-")]
    assert [m["Material"] for m in generated] == [f"MAT-{n:05d}" for n in range(1, 5001)]
    assert all(is_ean13(m["InternationalArticleNumber"]) for m in materials)
    assert len({m["InternationalArticleNumber"] for m in materials}) == len(materials)
    prices = [float(m["Price"]) for m in generated]
    assert min(prices) >= 1.0
    assert max(prices) <= 500.0
    assert all(0 <= s["UnrestrictedStock"] <= 500 for s in stock if s["Material"].startswith("MAT-"))
    assert len({m["MaterialDescription"] for m in generated}) > 100  # colour, category, size
    # Every change, seed rows included, has its own timestamp.
    stamps = [row["LastChangedAt"] for row in materials + customers + stock]
    assert len(set(stamps)) == len(stamps)
    assert all(parse_ts(stamp) >= seeded_at for stamp in stamps)

    assert len(customers) == len(DEMO_USERS) + 1000 + 1
    by_email = {c["EmailAddress"]: c for c in customers}
    for user in DEMO_USERS.values():
        assert by_email[str(user.email)]["CreditIsBlocked"] is False
        assert by_email[str(user.email)]["DeliveryIsBlocked"] is False
    one_time = next(c for c in customers if c["Customer"] == "0000999999")
    assert one_time["CustomerName"] == "One-time customer (web shop)"
    generated_customers = [c for c in customers if c["EmailAddress"].endswith("@customers.example.net")]
    assert len(generated_customers) == 1000
    assert {c["Country"] for c in generated_customers} == {"DE", "AT", "NL", "FR", "IT"}
    assert 5 <= sum(c["CreditIsBlocked"] for c in generated_customers) <= 40  # about 2 %
    assert len(by_email) == len(customers)

    # A restart seeds nothing: the same rows, the same stamps.
    async with stand_in(database, materials=5000, customers=1000) as (client, _):
        again = await walk(client, "/odata/Materials?$top=1000")
    assert again == materials

    # Deterministic: another database seeds the same data (only the stamps differ).
    async with stand_in(new_database(postgres_url), materials=5000, customers=1000) as (client, _):
        other = await walk(client, "/odata/Materials?$top=1000")
        other_customers = await walk(client, "/odata/Customers?$top=1000")
    assert without_stamps(other) == without_stamps(materials)
    assert without_stamps(other_customers) == without_stamps(customers)


async def test_paging_walks_every_row_once_in_change_order(client: httpx.AsyncClient) -> None:
    counted = (await client.get("/odata/Materials", params={"$count": "true", "$top": 1})).json()
    assert counted["@odata.count"] == len(DEMO_PRODUCTS) + MATERIALS
    rows = await walk(client, "/odata/Materials?$top=7")
    assert len(rows) == counted["@odata.count"]
    assert len({r["Material"] for r in rows}) == len(rows)
    positions = [(r["LastChangedAt"], r["Material"]) for r in rows]
    assert positions == sorted(positions)

    first = (await client.get("/odata/Materials", params={"$top": 7})).json()
    assert first["@odata.nextLink"] == (
        f"/odata/Materials?$top=7&$skiptoken={first['value'][-1]['LastChangedAt']}|{first['value'][-1]['Material']}"
    )
    assert "@odata.count" not in first
    # $skip skips within the order; the last page has no next link.
    skipped = (await client.get("/odata/Materials", params={"$top": 3, "$skip": 2})).json()
    assert skipped["value"] == rows[2:5]
    last = (await client.get("/odata/Materials", params={"$top": 1000})).json()
    assert "@odata.nextLink" not in last
    assert last["value"] == rows
    # An importer resumes from the (LastChangedAt, key) of the last row it committed.
    token = f"{rows[9]['LastChangedAt']}|{rows[9]['Material']}"
    resumed = (await client.get("/odata/Materials", params={"$top": 1000, "$skiptoken": token})).json()
    assert resumed["value"] == rows[10:]


async def test_no_gap_and_no_duplicate_while_rows_change_between_pages(client: httpx.AsyncClient) -> None:
    before = await walk(client, "/odata/Customers?$top=1000")
    keys = [c["Customer"] for c in before]
    changed: dict[str, list[str]] = {}

    async def meanwhile(page: int) -> None:
        # After each page: change a row already read and one not read yet (each then moves to the end).
        if page <= 3:
            for key in (keys[page], keys[-page - 3]):
                row = await change(client, "Customers", key, {"CityName": f"Town {page}"})
                changed.setdefault(key, []).append(row["@odata.etag"])

    seen = await walk(client, "/odata/Customers?$top=5", meanwhile)
    versions = [(c["Customer"], c["@odata.etag"]) for c in seen]
    assert len(set(versions)) == len(versions), "a row version was read twice"
    assert {c["Customer"] for c in seen} == set(keys), "a row was never read"
    # Read last in its newest version: what an importer upserting newest-wins ends with is the ERP's state.
    newest = {c["Customer"]: c for c in seen}
    now = await walk(client, "/odata/Customers?$top=1000")
    assert newest == {c["Customer"]: c for c in now}
    for key, etags in changed.items():
        assert newest[key]["@odata.etag"] == etags[-1]
        # A row changed before it was read is read once only, in its new version.
        if key in {keys[-4], keys[-5], keys[-6]}:
            assert [c["@odata.etag"] for c in seen if c["Customer"] == key] == [etags[-1]]
    positions = [(c["LastChangedAt"], c["Customer"]) for c in seen]
    assert positions == sorted(positions)


async def test_concurrent_writers_get_unique_increasing_stamps_and_a_follower_misses_nothing(
    client: httpx.AsyncClient,
) -> None:
    materials = [f"MAT-{n:05d}" for n in range(1, 21)]
    done = asyncio.Event()
    followed: dict[str, dict[str, Any]] = {}

    async def follow() -> None:
        # An importer polling for changes, resuming from the last row it saw.
        token: str | None = None
        while True:
            finished = done.is_set()
            params: dict[str, Any] = {"$top": 4}
            if token is not None:
                params["$skiptoken"] = token
            body = (await client.get("/odata/Materials", params=params)).json()
            for row in body["value"]:
                followed[row["Material"]] = row
                token = f"{row['LastChangedAt']}|{row['Material']}"
            if finished and "@odata.nextLink" not in body:
                return

    async def write(n: int) -> None:
        material = materials[n % len(materials)]
        await change(client, "Materials", material, {"Price": f"{n + 1}.50"})
        await change(client, "MaterialStock", material, {"UnrestrictedStock": n})

    follower = asyncio.create_task(follow())
    await asyncio.gather(*(write(n) for n in range(60)))
    done.set()
    await follower

    now = {m["Material"]: m for m in await walk(client, "/odata/Materials?$top=1000")}
    assert followed == now
    recorded = await events(client)
    assert len(recorded) == 120
    stamps = [e["body"]["occurred_at"] for e in recorded]
    assert len(set(stamps)) == len(stamps)
    assert stamps == sorted(stamps)
    # Each material's last event is its current state.
    last = {e["object_id"]: e["body"]["data"] for e in recorded if e["type"] == "MaterialChanged"}
    assert all(last[m] == now[m] for m in materials)


async def test_changes_commit_in_the_order_of_their_stamps(database: str) -> None:
    # A writer that took its stamp but has not committed holds the clock: a later writer waits, so a
    # reader never sees the later change while the earlier (smaller stamp) one may still appear behind it.
    async with stand_in(database) as (client, app):
        start = (await client.get("/odata/Materials", params={"$top": 1000})).json()["value"][-1]
        position = f"{start['LastChangedAt']}|{start['Material']}"
        engine = app.state.desk.store.engine
        async with engine.connect() as conn:
            slow = await conn.begin()
            stamp = await tick(conn)
            await conn.execute(
                update(materials)
                .where(materials.c.material == "MAT-00001")
                .values(version=materials.c.version + 1, last_changed_at=stamp)
            )
            later = asyncio.create_task(change(client, "Materials", "MAT-00002", {"Price": "9.99"}))
            await asyncio.sleep(0.5)
            assert not later.done(), "a second writer went ahead of an uncommitted earlier stamp"
            unseen = (await client.get("/odata/Materials", params={"$skiptoken": position})).json()["value"]
            assert unseen == []
            await slow.commit()
        done = await later
        assert done["LastChangedAt"] > format_ts(stamp)
        after = (await client.get("/odata/Materials", params={"$skiptoken": position})).json()["value"]
        assert [(m["Material"], m["@odata.etag"]) for m in after] == [("MAT-00001", 'W/"2"'), ("MAT-00002", 'W/"2"')]


async def test_filter_by_last_changed_at_and_count(client: httpx.AsyncClient) -> None:
    rows = await walk(client, "/odata/MaterialStock?$top=1000")
    pivot = rows[20]
    moment = parse_ts(pivot["LastChangedAt"])

    async def matching(expression: str) -> dict[str, Any]:
        resp = await client.get("/odata/MaterialStock", params={"$filter": expression, "$count": "true", "$top": 1000})
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    gt = await matching(f"LastChangedAt gt {pivot['LastChangedAt']}")
    assert gt["value"] == rows[21:]
    assert gt["@odata.count"] == len(rows) - 21
    ge = await matching(f"LastChangedAt ge {pivot['LastChangedAt']}")
    assert ge["value"] == rows[20:]
    # The same instant with an offset, quoted, or with the '+' decoded to a blank by a sloppy client.
    berlin = moment.astimezone(UTC) + timedelta(hours=2)
    offset = berlin.replace(tzinfo=None).isoformat(timespec="microseconds") + "+02:00"
    assert (await matching(f"LastChangedAt ge {offset}"))["value"] == rows[20:]
    assert (await matching(f"LastChangedAt ge '{pivot['LastChangedAt']}'"))["value"] == rows[20:]
    raw = await client.get(f"/odata/MaterialStock?$top=1000&$filter=LastChangedAt ge {offset}")
    assert raw.json()["value"] == rows[20:]
    # $count counts the filter, not the page.
    page = (
        await client.get(
            "/odata/MaterialStock",
            params={"$filter": f"LastChangedAt gt {pivot['LastChangedAt']}", "$count": "true", "$top": 2},
        )
    ).json()
    assert (len(page["value"]), page["@odata.count"]) == (2, len(rows) - 21)
    future = format_ts(datetime.now(UTC) + timedelta(days=1))
    assert await matching(f"LastChangedAt gt {future}") == {"@odata.count": 0, "value": []}

    for unsupported in (
        "Material eq 'MUG-RED'",
        f"LastChangedAt lt {pivot['LastChangedAt']}",
        "LastChangedAt gt yesterday",
        "LastChangedAt gt 2025-01-01T00:00:00",  # no zone
        f"LastChangedAt gt {pivot['LastChangedAt']} and Plant eq '1000'",
    ):
        resp = await client.get("/odata/MaterialStock", params={"$filter": unsupported})
        assert (resp.status_code, resp.json()["type"]) == (400, "UnsupportedFilter"), unsupported
    for token in ("nonsense", "2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z|", "yesterday|MUG-RED"):
        resp = await client.get("/odata/MaterialStock", params={"$skiptoken": token})
        assert (resp.status_code, resp.json()["type"]) == (400, "InvalidSkipToken"), token
    for top in (0, 1001):
        assert (await client.get("/odata/MaterialStock", params={"$top": top})).status_code == 422


async def test_one_entity_with_its_etag(client: httpx.AsyncClient) -> None:
    resp = await client.get("/odata/MaterialStock('MUG-RED')")
    assert resp.status_code == 200
    assert resp.headers["ETag"] == 'W/"1"'
    assert resp.json() | {"LastChangedAt": None} == {
        "Material": "MUG-RED",
        "Plant": "1000",
        "UnrestrictedStock": 100,
        "LastChangedAt": None,
        "@odata.etag": 'W/"1"',
    }
    for path in ("/odata/Materials('NOPE-1')", "/odata/Customers('0000000001')", "/odata/SalesOrders('0000500001')"):
        resp = await client.get(path)
        assert (resp.status_code, resp.json()["type"]) == (404, "NotFound"), path
    assert (await client.get("/odata/Customers('abc')")).status_code == 422


async def test_a_change_needs_the_current_etag(client: httpx.AsyncClient) -> None:
    before = await entity(client, "Materials", "MUG-BLU")
    url = "/odata/Materials('MUG-BLU')"

    missing = await client.patch(url, json={"Price": "13.00"})
    assert (missing.status_code, missing.json()["type"]) == (428, "PreconditionRequired")
    stale = await client.patch(url, json={"Price": "13.00"}, headers={"If-Match": 'W/"7"'})
    assert (stale.status_code, stale.json()["type"]) == (412, "PreconditionFailed")
    assert await entity(client, "Materials", "MUG-BLU") == before
    assert await events(client) == []

    changed = await client.patch(url, json={"Price": "13.5", "GrossWeight": "0.4"}, headers={"If-Match": 'W/"1"'})
    assert changed.status_code == 200, changed.text
    assert changed.headers["ETag"] == 'W/"2"'
    body = changed.json()
    assert (body["Price"], body["GrossWeight"], body["@odata.etag"]) == ("13.50", "0.400", 'W/"2"')
    assert body["LastChangedAt"] > before["LastChangedAt"]
    assert await entity(client, "Materials", "MUG-BLU") == body
    # The old ETag is stale now; * matches any.
    again = await client.patch(url, json={"Price": "14.00"}, headers={"If-Match": 'W/"1"'})
    assert again.status_code == 412
    star = await client.patch(url, json={"MaterialDescription": "Blue mug, large"}, headers={"If-Match": "*"})
    assert (star.status_code, star.json()["@odata.etag"], star.json()["Price"]) == (200, 'W/"3"', "13.50")

    unknown = await client.patch(url, json={"Colour": "blue", "Price": "1.00"}, headers={"If-Match": "*"})
    assert (unknown.status_code, unknown.json()["type"]) == (400, "UnknownField")
    key = await client.patch(url, json={"Material": "MUG-GRN"}, headers={"If-Match": "*"})
    assert (key.status_code, key.json()["type"]) == (400, "UnknownField")
    bad_ean = await client.patch(url, json={"InternationalArticleNumber": "4012345000011"}, headers={"If-Match": "*"})
    assert bad_ean.status_code == 422
    null = await client.patch(url, json={"Price": None}, headers={"If-Match": "*"})
    assert null.status_code == 422
    assert (await entity(client, "Materials", "MUG-BLU"))["@odata.etag"] == 'W/"3"'
    gone = await client.patch("/odata/Materials('NOPE-1')", json={"Price": "1.00"}, headers={"If-Match": "*"})
    assert gone.status_code == 404

    stock = await change(client, "MaterialStock", "MUG-BLU", {"UnrestrictedStock": 7}, 'W/"1"')
    assert (stock["UnrestrictedStock"], stock["@odata.etag"]) == (7, 'W/"2"')
    customer = await change(client, "Customers", "0000100002", {"DeliveryIsBlocked": True})
    assert customer["DeliveryIsBlocked"] is True
    assert (
        await client.patch("/odata/MaterialStock('MUG-BLU')", json={"UnrestrictedStock": -1}, headers={"If-Match": "*"})
    ).status_code == 422

    recorded = await events(client)
    assert [(e["type"], e["object_id"], e["status"]) for e in recorded] == [
        ("MaterialChanged", "MUG-BLU", "pending"),
        ("MaterialChanged", "MUG-BLU", "pending"),
        ("StockChanged", "MUG-BLU", "pending"),
        ("CustomerChanged", "0000100002", "pending"),
    ]
    assert recorded[1]["body"]["data"] == star.json()
    assert recorded[1]["body"]["occurred_at"] == star.json()["LastChangedAt"]


async def test_a_sales_order_is_created_exactly_once(client: httpx.AsyncClient) -> None:
    created = await client.post("/odata/SalesOrders", json=sales_order("order-1"))
    assert created.status_code == 201, created.text
    order = created.json()
    assert created.headers["ETag"] == 'W/"1"'
    assert order | {"LastChangedAt": None} == {
        "SalesOrder": "0000500001",
        "PurchaseOrderByCustomer": "order-1",
        "SoldToParty": "0000100001",  # alice, by her e-mail in another case
        "CustomerEmail": "Alice@Example.com",
        "Currency": "EUR",
        "TotalNetAmount": "33.00",
        "OverallStatus": "OPEN",
        "Items": [
            {"Material": "MUG-RED", "RequestedQuantity": 2, "NetPrice": "12.00"},
            {"Material": "PEN-BLK", "RequestedQuantity": 3, "NetPrice": "3.00"},
        ],
        "LastChangedAt": None,
        "@odata.etag": 'W/"1"',
    }
    again = await client.post("/odata/SalesOrders", json=sales_order("order-1", CustomerEmail="alice@example.com"))
    assert (again.status_code, again.json()) == (200, order)
    other = await client.post(
        "/odata/SalesOrders", json=sales_order("order-1", Items=[{"Material": "MUG-RED", "RequestedQuantity": 1}])
    )
    assert (other.status_code, other.json()["type"], other.json()["SalesOrder"]) == (
        409,
        "DuplicatePurchaseOrder",
        "0000500001",
    )

    # At once, five times: one order.
    answers = await asyncio.gather(*(client.post("/odata/SalesOrders", json=sales_order("order-2")) for _ in range(5)))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 200, 201]
    assert {a.json()["SalesOrder"] for a in answers} == {"0000500002"}

    priced = await client.post(
        "/odata/SalesOrders",
        json=sales_order("order-3", Items=[{"Material": "LAMP-DESK", "RequestedQuantity": 1, "NetPrice": "45.5"}]),
    )
    assert (priced.json()["TotalNetAmount"], priced.json()["Items"][0]["NetPrice"]) == ("45.50", "45.50")

    orders = (await client.get("/odata/SalesOrders", params={"$count": "true"})).json()
    assert orders["@odata.count"] == 3
    # Creating an order queues no event (its creator has the answer) ...
    assert await events(client) == []

    status = await change(client, "SalesOrders", "0000500001", {"OverallStatus": "COMPLETED"}, 'W/"1"')
    assert (status["OverallStatus"], status["@odata.etag"]) == ("COMPLETED", 'W/"2"')
    # ... a status change made in the ERP does.
    assert [(e["type"], e["object_id"]) for e in await events(client)] == [("SalesOrderStatusChanged", "0000500001")]
    wrong = await client.patch(
        "/odata/SalesOrders('0000500001')", json={"TotalNetAmount": "0.00"}, headers={"If-Match": "*"}
    )
    assert wrong.status_code == 400
    bad = await client.patch(
        "/odata/SalesOrders('0000500001')", json={"OverallStatus": "SHIPPED"}, headers={"If-Match": "*"}
    )
    assert bad.status_code == 422


async def test_the_sold_to_party_is_named_found_by_email_or_the_one_time_customer(client: httpx.AsyncClient) -> None:
    named = await client.post("/odata/SalesOrders", json=sales_order("order-n", SoldToParty="0000100002"))
    assert named.json()["SoldToParty"] == "0000100002"
    stranger = await client.post("/odata/SalesOrders", json=sales_order("order-s", CustomerEmail="nobody@example.org"))
    assert (stranger.status_code, stranger.json()["SoldToParty"]) == (201, "0000999999")
    unknown = await client.post("/odata/SalesOrders", json=sales_order("order-u", SoldToParty="0000123456"))
    assert (unknown.status_code, unknown.json()["type"]) == (422, "UnknownCustomer")
    material = await client.post(
        "/odata/SalesOrders",
        json=sales_order(
            "order-m",
            Items=[{"Material": "NOPE-1", "RequestedQuantity": 1}, {"Material": "MUG-RED", "RequestedQuantity": 1}],
        ),
    )
    assert (material.status_code, material.json()["type"], material.json()["materials"]) == (
        422,
        "UnknownMaterial",
        ["NOPE-1"],
    )
    assert (await client.get("/odata/SalesOrders", params={"$count": "true"})).json()["@odata.count"] == 2
    broken_bodies: list[dict[str, Any]] = [
        {"Items": []},
        {"Currency": "eur"},
        {"CustomerEmail": "no-at-sign"},
        {"Extra": 1},
    ]
    for broken in broken_bodies:
        assert (await client.post("/odata/SalesOrders", json=sales_order("order-x") | broken)).status_code == 422


async def test_a_blocked_customer_gets_no_order_until_the_block_is_lifted(client: httpx.AsyncClient) -> None:
    before = await entity(client, "Customers", "0000100001")
    blocked = await client.post("/control/credit-block", json={"email": "ALICE@example.com", "blocked": True})
    assert blocked.status_code == 200, blocked.text
    [alice] = blocked.json()["value"]
    assert (alice["Customer"], alice["CreditIsBlocked"], alice["@odata.etag"]) == ("0000100001", True, 'W/"2"')
    assert alice["LastChangedAt"] > before["LastChangedAt"]
    assert await entity(client, "Customers", "0000100001") == alice

    refused = await client.post("/odata/SalesOrders", json=sales_order("order-b"))
    assert (refused.status_code, refused.json()["type"], refused.json()["SoldToParty"]) == (
        422,
        "CustomerBlocked",
        "0000100001",
    )
    assert (await client.get("/odata/SalesOrders")).json()["value"] == []

    lifted = await client.post("/control/credit-block", json={"customer": "0000100001", "blocked": False})
    assert lifted.json()["value"][0]["@odata.etag"] == 'W/"3"'
    retried = await client.post("/odata/SalesOrders", json=sales_order("order-b"))
    assert retried.status_code == 201, retried.text

    # A delivery block refuses too.
    await change(client, "Customers", "0000100002", {"DeliveryIsBlocked": True})
    olivia = await client.post("/odata/SalesOrders", json=sales_order("order-o", CustomerEmail="olivia@example.com"))
    assert (olivia.status_code, olivia.json()["type"]) == (422, "CustomerBlocked")

    recorded = await events(client)
    assert [(e["type"], e["object_id"]) for e in recorded] == [
        ("CustomerChanged", "0000100001"),
        ("CustomerChanged", "0000100001"),
        ("CustomerChanged", "0000100002"),
    ]
    assert recorded[0]["body"]["data"]["CreditIsBlocked"] is True
    unknown = await client.post("/control/credit-block", json={"customer": "0000000001", "blocked": True})
    assert (unknown.status_code, unknown.json()["type"]) == (404, "UnknownCustomer")
    both = await client.post(
        "/control/credit-block", json={"customer": "0000100001", "email": "a@b.c", "blocked": True}
    )
    assert both.status_code == 422


async def test_injected_outage_failures_and_latency(client: httpx.AsyncClient) -> None:
    down = await client.post("/control", json={"outage": True})
    assert down.json()["outage"] is True
    for call in (
        client.get("/odata/Materials"),
        client.get("/odata/Customers('0000100001')"),
        client.post("/odata/SalesOrders", json=sales_order("order-d")),
    ):
        resp = await call
        assert (resp.status_code, resp.json()["type"]) == (503, "ErpUnavailable")
    assert (await client.get("/control")).status_code == 200  # the control door stays open
    assert (await client.get("/odata/SalesOrders", headers={})).status_code == 503

    await client.post("/control", json={"outage": False, "fail_rate": 1})
    resp = await client.get("/odata/MaterialStock")
    assert (resp.status_code, resp.json()["type"]) == (500, "ErpInternalError")
    # Only reads fail: writes go through.
    assert (await client.post("/odata/SalesOrders", json=sales_order("order-f"))).status_code == 201

    await client.post("/control", json={"fail_rate": 0, "slow_seconds": 0.3})
    started = time.monotonic()
    assert (await client.get("/odata/Materials", params={"$top": 1})).status_code == 200
    assert time.monotonic() - started >= 0.3
    state = (await client.get("/control")).json()
    assert state == {
        "outage": False,
        "slow_seconds": 0.3,
        "fail_rate": 0.0,
        "duplicate_rate": 0.0,
        "reorder": False,
        "webhook_url": None,
        "outbox": {"pending": 0, "delivered": 0, "rejected": 0},  # a created order queues no event
    }
    assert (await client.post("/control", json={"slow_seconds": 31})).status_code == 422
    assert (await client.post("/control", json={"fail_rate": 1.5})).status_code == 422


async def test_it_answers_only_paklog_processes(client: httpx.AsyncClient) -> None:
    resp = await client.get("/odata/Materials", headers={"X-PakLog-Service-Token": "wrong"})
    assert (resp.status_code, resp.json()["type"]) == (401, "InvalidServiceCredential")
    async with httpx.AsyncClient(transport=client._transport, base_url="http://erp") as anonymous:
        assert (await anonymous.get("/odata/Materials")).status_code == 401
        assert (await anonymous.get("/control")).status_code == 401
        assert (await anonymous.get("/events")).status_code == 401
        assert (await anonymous.get("/healthz")).json() == {"status": "ok"}


def test_main_reads_port_database_and_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_run(app: Any, **options: Any) -> None:
        seen.update(options, app=app)

    monkeypatch.setattr("services.erp.app.uvicorn.run", fake_run)
    main(
        [
            "--port",
            "8299",
            "--database-url",
            "postgresql://u@db:5432/erp_x",
            "--webhook-url",
            "http://gw/api/webhooks/erp/",
        ]
    )
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8299)
    settings = seen["app"].state.settings
    assert settings.resolved_database_url() == "postgresql+asyncpg://u@db:5432/erp_x"
    assert settings.erp_webhook_url == "http://gw/api/webhooks/erp"


def test_the_default_database_is_paklog_erp_on_the_platforms_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAKLOG_POSTGRES_URL", "postgresql://u:p@pg:5432")
    monkeypatch.setenv("PAKLOG_DATABASE_URL", "postgresql://u:p@pg:5432/someone_else")
    monkeypatch.setenv("PAKLOG_ERP_SEED_MATERIALS", "12")
    settings = ErpSettings()
    assert settings.resolved_database_url() == "postgresql+asyncpg://u:p@pg:5432/paklog_erp"
    assert (settings.port, settings.erp_seed_materials, settings.erp_seed_customers) == (8195, 12, 1000)
