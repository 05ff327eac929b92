"""The master-data import's activities over httpx.MockTransport: the ERP request, conversions, keys, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.base import ServiceCallError, ServiceClient
from activities.erp_sync import ErpClient, ErpSyncActivities, cents, cubic_centimetres, grams, page_key
from common.service_auth import SERVICE_TOKEN_HEADER
from tests.activities.test_activities import TOKEN, env
from workflows.erp_types import EntityRef, ImportPage, Watermark

ERP = "http://erp.test"
T1 = "2026-11-24T10:00:00.000001Z"
T2 = "2026-11-24T10:00:00.000002Z"
MATERIAL = {
    "Material": "MAT-00001",
    "MaterialDescription": "Mug, red, 0.3 l",
    "BaseUnit": "EA",
    "GrossWeight": "0.3505",
    "WeightUnit": "KG",
    "Volume": "1.2345",
    "VolumeUnit": "L",
    "InternationalArticleNumber": "4006381333931",
    "Price": "12.005",
    "Currency": "EUR",
    "LastChangedAt": T1,
    "@odata.etag": 'W/"1"',
}
CUSTOMER = {
    "Customer": "0000100001",
    "CustomerName": "Alice Customer",
    "EmailAddress": "alice@example.com",
    "StreetName": "1 Example Street",
    "CityName": "Berlin",
    "PostalCode": "10115",
    "Country": "DE",
    "DeliveryIsBlocked": False,
    "CreditIsBlocked": True,
    "LastChangedAt": T2,
    "@odata.etag": 'W/"3"',
}
STOCK = {"Material": "MUG-RED", "Plant": "1000", "UnrestrictedStock": 100, "LastChangedAt": T2, "@odata.etag": 'W/"2"'}

Handler = Callable[[httpx.Request], httpx.Response]


class Erp:
    """The ERP, inventory and identity behind one MockTransport; every request is kept."""

    def __init__(
        self,
        page: dict[str, Any] | Handler,
        answer: dict[str, Any] | None = None,
        answer_status: int = 200,
    ) -> None:
        self.page = page
        self.answer = answer or {"inserted": 1, "updated": 0, "unchanged": 0}
        self.answer_status = answer_status
        self.requests: list[httpx.Request] = []
        #: Inventory's pending stock adjustments; the warehouse's applied ones.
        self.pending: list[dict[str, Any]] = []
        self.applied: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == "erp.test":
            if callable(self.page):
                return self.page(request)
            return httpx.Response(200, json=self.page)
        if request.url.path == "/erp/watermarks":
            return httpx.Response(200, json=self.watermarks(request.url.host))
        if request.url.path.startswith("/stock/adjustments"):
            return self.adjustments(request)
        return httpx.Response(self.answer_status, json=self.answer)

    def adjustments(self, request: httpx.Request) -> httpx.Response:
        """Inventory's pending list and its ``posted`` mark; the warehouse's apply."""
        if request.url.host == "warehouse.test":
            self.applied += json.loads(request.content)["items"]
            return httpx.Response(200, json={"applied": 1, "duplicate": 0})
        if request.url.path.endswith("/posted"):
            ids = set(json.loads(request.content)["ids"])
            self.pending = [item for item in self.pending if item["id"] not in ids]
            return httpx.Response(200, json={"posted": len(ids)})
        limit = int(request.url.params["limit"])
        assert request.url.params["pending"] == "true"
        return httpx.Response(200, json={"items": self.pending[:limit], "total": len(self.pending)})

    @staticmethod
    def watermarks(host: str) -> dict[str, Any]:
        if host == "identity.test":
            return {"customers": {"changed_at": T2, "key": "0000100001", "rows": 1001, "updated_at": T2}}
        return {"materials": {"changed_at": T1, "key": "MAT-00001", "rows": 5012, "updated_at": T1}, "stock": None}

    def activities(self, http: httpx.AsyncClient) -> ErpSyncActivities:
        return ErpSyncActivities(
            ErpClient(http, ERP, TOKEN),
            ServiceClient(http, "http://inventory.test", TOKEN),
            ServiceClient(http, "http://identity.test", TOKEN),
            ServiceClient(http, "http://warehouse.test", TOKEN),
        )

    async def run(self, activity_name: str, arg: Any) -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(self)) as http:
            acts = self.activities(http)
            return await env("erp-sync-materials").run(getattr(acts, activity_name), arg)

    def posted(self) -> dict[str, Any]:
        page = [r for r in self.requests if r.url.path.startswith("/erp/") and r.method == "POST"][-1]
        body: dict[str, Any] = json.loads(page.content)
        return body


# -- conversions ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [("0.350", "KG", 350), ("0.0005", "KG", 1), ("0.0004", "KG", 0), ("2.0025", "kg", 2003), ("350", "G", 350)],
)
def test_weights_become_grams_rounding_half_up(value: str, unit: str, expected: int) -> None:
    assert grams(value, unit) == expected


@pytest.mark.parametrize(
    ("value", "unit", "expected"), [("1.250", "L", 1250), ("0.0005", "L", 1), ("0.002", "M3", 2000), ("7", "CM3", 7)]
)
def test_volumes_become_cubic_centimetres_rounding_half_up(value: str, unit: str, expected: int) -> None:
    assert cubic_centimetres(value, unit) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("12.00", 1200), ("0.125", 13), ("0.135", 14), ("1.005", 101), ("500.00", 50000)]
)
def test_prices_become_cents_rounding_half_up_with_decimal(value: str, expected: int) -> None:
    # float arithmetic would make 1.005 * 100 = 100.49999... and round(0.125 * 100) = 12.
    assert cents(value) == expected


@pytest.mark.parametrize("bad", ["abc", "-1.00", "NaN", "Infinity", 12.5, None])
def test_what_is_not_a_decimal_string_is_invalid_erp_data(bad: Any) -> None:
    with pytest.raises(ApplicationError) as caught:
        cents(bad)
    assert (caught.value.type, caught.value.non_retryable) == ("InvalidErpData", True)


def test_an_unknown_unit_is_invalid_erp_data() -> None:
    with pytest.raises(ApplicationError) as caught:
        grams("1.000", "LB")
    assert caught.value.type == "InvalidErpData"


# -- the page ---------------------------------------------------------------------------------
async def test_a_material_page_is_converted_and_posted_with_its_last_row_as_watermark() -> None:
    second = {**MATERIAL, "Material": "MAT-00002", "LastChangedAt": T2, "InternationalArticleNumber": ""}
    erp = Erp({"value": [MATERIAL, second], "@odata.nextLink": "/odata/Materials?$top=2&$skiptoken=x"})
    start = Watermark(changed_at="2026-11-24T09:59:59.999999+00:00", key="MUG-RED")
    result = await erp.run("import_page", ImportPage("materials", start, page_size=2))

    fetch, post = erp.requests
    assert (fetch.method, fetch.url.path) == ("GET", "/odata/Materials")
    assert fetch.url.params["$top"] == "2"
    assert fetch.url.params["$skiptoken"] == "2026-11-24T09:59:59.999999+00:00|MUG-RED"
    assert b"999999%2B00%3A00%7CMUG-RED" in fetch.url.query  # a "+" sent bare would arrive as a space
    assert fetch.headers[SERVICE_TOKEN_HEADER] == TOKEN
    assert (post.method, str(post.url)) == ("POST", "http://inventory.test/erp/materials")
    assert post.headers[SERVICE_TOKEN_HEADER] == TOKEN
    body = erp.posted()
    assert body["watermark"] == {"changed_at": T2, "key": "MAT-00002"}
    assert body["items"][0] == {
        "sku": "MAT-00001",
        "name": "Mug, red, 0.3 l",
        "price_cents": 1201,
        "currency": "EUR",
        "weight_grams": 351,
        "volume_cm3": 1235,
        "ean": "4006381333931",
        "changed_at": T1,
    }
    assert body["items"][1]["ean"] is None
    assert (result.rows, result.inserted, result.more) == (2, 1, True)
    assert result.watermark == Watermark(changed_at=T2, key="MAT-00002")


async def test_the_first_page_has_no_skiptoken_and_the_last_page_no_next_link() -> None:
    erp = Erp({"value": [CUSTOMER]}, answer={"inserted": 0, "updated": 1, "unchanged": 0})
    result = await erp.run("import_page", ImportPage("customers", None, page_size=500))
    fetch, post = erp.requests
    assert fetch.url.path == "/odata/Customers"
    assert dict(fetch.url.params) == {"$top": "500"}
    assert str(post.url) == "http://identity.test/erp/customers"
    assert erp.posted()["items"] == [
        {
            "customer_number": "0000100001",
            "name": "Alice Customer",
            "email": "alice@example.com",
            "street": "1 Example Street",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
            "delivery_blocked": False,
            "credit_blocked": True,
            "changed_at": T2,
        }
    ]
    assert (result.updated, result.more, result.watermark) == (1, False, Watermark(T2, "0000100001"))


async def test_stock_counts_the_rejected_and_the_unknown() -> None:
    answer = {"updated": 1, "unchanged": 0, "unknown": ["NEW-SKU"], "rejected": [{"sku": "X", "reason": "r"}]}
    erp = Erp({"value": [STOCK, STOCK, STOCK]}, answer=answer)
    result = await erp.run("import_page", ImportPage("stock", None))
    assert str(erp.requests[1].url) == "http://inventory.test/erp/stock"
    assert erp.posted()["items"][0] == {"sku": "MUG-RED", "on_hand": 100, "changed_at": T2}
    assert (result.rows, result.updated, result.unknown, result.rejected) == (3, 1, 1, 1)


def _adjustment(n: int) -> dict[str, Any]:
    return {"id": n, "sku": f"SKU-{n}", "delta": n - 3, "on_hand": n, "source": "erp-page", "ref": "r"}


async def test_a_stock_page_carries_the_pending_adjustments_to_the_warehouse_in_batches() -> None:
    erp = Erp({"value": [STOCK]}, answer={"updated": 1, "unchanged": 0, "unknown": [], "rejected": []})
    erp.pending = [_adjustment(n) for n in range(1, 503)]
    await erp.run("import_page", ImportPage("stock", None))
    assert erp.pending == []
    assert [a["id"] for a in erp.applied] == list(range(1, 503))
    assert erp.applied[0] == {"id": 1, "sku": "SKU-1", "delta": -2}
    paths = [(r.url.host, r.method, r.url.path) for r in erp.requests[2:]]
    assert paths[:3] == [
        ("inventory.test", "GET", "/stock/adjustments"),
        ("warehouse.test", "POST", "/stock/adjustments"),
        ("inventory.test", "POST", "/stock/adjustments/posted"),
    ]
    assert len(paths) == 6  # 500, then the last 2


async def test_an_empty_stock_page_still_carries_what_a_crash_left_pending() -> None:
    erp = Erp({"value": []})
    erp.pending = [_adjustment(7)]
    await erp.run("import_page", ImportPage("stock", None))
    assert (erp.pending, [a["id"] for a in erp.applied]) == ([], [7])


async def test_a_materials_page_carries_no_adjustments() -> None:
    erp = Erp({"value": [MATERIAL]})
    erp.pending = [_adjustment(7)]
    await erp.run("import_page", ImportPage("materials", None))
    assert (len(erp.pending), erp.applied) == (1, [])


async def test_a_warehouse_outage_while_carrying_is_retryable_and_leaves_them_pending() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        if request.url.host == "warehouse.test":
            return httpx.Response(503, json={"type": "ServiceUnavailable", "detail": "down"})
        return erp.adjustments(request)

    erp = Erp({"value": []})
    erp.pending = [_adjustment(7)]
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: down(r) if r.url.path.startswith("/stock") else erp(r))
    ) as http:
        with pytest.raises(ServiceCallError, match="503"):
            await env("erp-sync-stock").run(erp.activities(http).import_page, ImportPage("stock", None))
    assert [a["id"] for a in erp.pending] == [7]


async def test_an_empty_page_posts_nothing_and_keeps_the_watermark() -> None:
    erp = Erp({"value": []})
    start = Watermark(T1, "MAT-00001")
    result = await erp.run("import_page", ImportPage("materials", start))
    assert len(erp.requests) == 1
    assert (result.rows, result.more, result.watermark) == (0, False, start)


# -- the idempotency key ------------------------------------------------------------------------
async def test_the_key_names_the_entity_and_the_page_and_a_retry_sends_the_same() -> None:
    erp = Erp({"value": [MATERIAL]})
    start = Watermark("2026-11-24T09:00:00.000000Z", "A")
    await erp.run("import_page", ImportPage("materials", start))
    await erp.run("import_page", ImportPage("materials", start))
    first, second = erp.requests[1].headers["Idempotency-Key"], erp.requests[3].headers["Idempotency-Key"]
    assert first == second == page_key("materials", start, Watermark(T1, "MAT-00001"))
    assert first.startswith(f"erp-sync-materials:{T1}|MAT-00001:")
    assert len(first) <= 200


def test_keys_differ_by_entity_end_and_start() -> None:
    end = Watermark(T2, "MUG-RED")
    keys = {
        page_key("materials", None, end),
        page_key("stock", None, end),
        page_key("materials", None, Watermark(T1, "MUG-RED")),
        page_key("materials", Watermark(T1, "A"), end),
    }
    assert len(keys) == 4
    longest = page_key("materials", Watermark(T1, "X" * 64), Watermark(T2, "Y" * 64))
    assert len(longest) <= 200  # the services' Idempotency-Key limit


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
async def test_erp_server_errors_are_retryable(status: int) -> None:
    erp = Erp(lambda _: httpx.Response(status, json={"type": "ErpUnavailable", "detail": "down"}))
    with pytest.raises(ServiceCallError):
        await erp.run("import_page", ImportPage("materials", None))
    assert len(erp.requests) == 1  # nothing posted


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
async def test_erp_timeouts_and_connection_errors_are_retryable(error: Exception) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    erp = Erp(fail)
    with pytest.raises(ServiceCallError) as caught:
        await erp.run("import_page", ImportPage("materials", None))
    assert "unreachable" in str(caught.value)


@pytest.mark.parametrize(("status", "error_type"), [(400, "UnsupportedFilter"), (404, "NotFound")])
async def test_erp_client_errors_are_not_retried(status: int, error_type: str) -> None:
    erp = Erp(lambda _: httpx.Response(status, json={"type": error_type, "detail": "bad $skiptoken"}))
    with pytest.raises(ApplicationError) as caught:
        await erp.run("import_page", ImportPage("materials", Watermark("not-a-time", "X")))
    assert (caught.value.type, caught.value.non_retryable) == (error_type, True)


async def test_a_service_outage_is_retryable_and_a_refusal_is_not() -> None:
    down = Erp({"value": [MATERIAL]}, answer={"type": "ServiceUnavailable", "detail": "db"}, answer_status=503)
    with pytest.raises(ServiceCallError):
        await down.run("import_page", ImportPage("materials", None))
    refused = Erp({"value": [MATERIAL]}, answer={"type": "ValidationError", "detail": "no"}, answer_status=422)
    with pytest.raises(ApplicationError) as caught:
        await refused.run("import_page", ImportPage("materials", None))
    assert (caught.value.type, caught.value.non_retryable) == ("ValidationError", True)


async def test_a_row_the_contract_cannot_hold_stops_the_import() -> None:
    erp = Erp({"value": [{**MATERIAL, "GrossWeight": "heavy"}]})
    with pytest.raises(ApplicationError) as caught:
        await erp.run("import_page", ImportPage("materials", None))
    assert (caught.value.type, caught.value.non_retryable) == ("InvalidErpData", True)
    assert "MAT-00001" in str(caught.value)
    assert len(erp.requests) == 1


async def test_an_unknown_entity_is_not_retried() -> None:
    erp = Erp({"value": []})
    with pytest.raises(ApplicationError) as caught:
        await erp.run("import_page", ImportPage("orders", None))
    assert caught.value.type == "UnknownEntity"


# -- the watermark ----------------------------------------------------------------------------------
async def test_load_watermark_reads_the_owning_service() -> None:
    erp = Erp({"value": []})
    materials = await erp.run("load_watermark", EntityRef("materials"))
    stock = await erp.run("load_watermark", EntityRef("stock"))
    customers = await erp.run("load_watermark", EntityRef("customers"))
    assert [str(r.url) for r in erp.requests] == [
        "http://inventory.test/erp/watermarks",
        "http://inventory.test/erp/watermarks",
        "http://identity.test/erp/watermarks",
    ]
    assert (materials.watermark, materials.rows) == (Watermark(T1, "MAT-00001"), 5012)
    assert (stock.watermark, stock.rows) == (None, 0)
    assert customers.watermark == Watermark(T2, "0000100001")


async def test_a_customer_without_an_address_keeps_empty_address_parts() -> None:
    one_time = {
        **CUSTOMER,
        "Customer": "0000999999",
        "EmailAddress": "",
        "StreetName": "",
        "CityName": "",
        "PostalCode": "",
    }
    erp = Erp({"value": [one_time]}, answer={"inserted": 1, "updated": 0, "unchanged": 0})
    await erp.run("import_page", ImportPage("customers", None, page_size=500))
    item = erp.posted()["items"][0]
    # identity stores empty address parts; null there is a 422 that would stop the whole import.
    assert (item["email"], item["street"], item["city"], item["postal_code"]) == (None, "", "", "")
