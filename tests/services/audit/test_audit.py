"""The audit service: appends chain in order, once per record_id; pages filter; bad input is 422."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.audit.chain import GENESIS, record_hash
from services.audit.verify import verify_database
from tests.services.audit.conftest import AuditDb, append, entry, trail


def _stored(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, "at": datetime.fromisoformat(item["at"])}


async def test_a_batch_is_chained_in_order_from_genesis(client: httpx.AsyncClient) -> None:
    sent = [entry(path=f"/api/orders/o-{n}", status=200 + n) for n in range(3)]
    answer = await append(client, *sent)
    stored = await trail(client)

    assert [r["seq"] for r in stored] == [1, 2, 3]
    assert [r["record_id"] for r in stored] == [s["record_id"] for s in sent]
    assert [r["path"] for r in stored] == ["/api/orders/o-0", "/api/orders/o-1", "/api/orders/o-2"]
    assert stored[0]["prev_hash"] == GENESIS
    assert [r["prev_hash"] for r in stored[1:]] == [r["hash"] for r in stored[:-1]]
    assert all(r["hash"] == record_hash(_stored(r)) for r in stored)
    assert answer == {"appended": 3, "duplicates": 0, "head_seq": 3, "head_hash": stored[-1]["hash"]}

    more = await append(client, entry())
    assert (more["head_seq"], (await trail(client))[-1]["prev_hash"]) == (4, stored[-1]["hash"])


async def test_a_resent_batch_appends_nothing_twice(client: httpx.AsyncClient) -> None:
    batch = [entry() for _ in range(3)]
    first = await append(client, *batch)
    again = await append(client, *batch)
    assert (again["appended"], again["duplicates"], again["head_seq"], again["head_hash"]) == (
        0,
        3,
        3,
        first["head_hash"],
    )
    fresh = entry()
    mixed = await append(client, batch[2], fresh, fresh)  # an overlapping retry, and a repeat within one batch
    assert (mixed["appended"], mixed["duplicates"], mixed["head_seq"]) == (1, 2, 4)
    assert [r["record_id"] for r in await trail(client)] == [*(b["record_id"] for b in batch), fresh["record_id"]]


async def test_concurrent_appends_keep_one_gap_free_chain(client: httpx.AsyncClient, audit_db: AuditDb) -> None:
    batches = [[entry(actor=f"a{b}", path=f"/api/x/{b}/{n}") for n in range(20)] for b in range(8)]
    answers = await asyncio.gather(*(append(client, *batch) for batch in batches))

    stored = await trail(client)
    assert [r["seq"] for r in stored] == list(range(1, 161))
    assert sorted(a["head_seq"] for a in answers) == [20 * (n + 1) for n in range(8)]
    # Each batch is contiguous and in its own order: appends are serialized, never interleaved.
    for batch in batches:
        seqs = [r["seq"] for r in stored if r["actor"] == batch[0]["actor"]]
        assert seqs == list(range(seqs[0], seqs[0] + 20))
        assert [r["path"] for r in stored if r["actor"] == batch[0]["actor"]] == [e["path"] for e in batch]
    verdict = await verify_database(audit_db.writer_url)
    assert (verdict.broken, verdict.count, verdict.head_hash) == (None, 160, stored[-1]["hash"])


async def test_filters_narrow_the_page(client: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    await append(
        client,
        entry(
            actor="alice",
            path="/api/orders",
            route="/api/orders",
            order_id="o-9",
            at=(now - timedelta(hours=2)).isoformat(),
        ),
        entry(actor="olivia", path="/api/orders/o-9/cancel", route="/api/orders/{order_id}/cancel", order_id="o-9"),
        entry(actor="olivia", path="/api/waves", route="/api/waves", order_id=None, workflow_id=None),
        entry(actor=None, role=None, path="/api/auth/token", route="/api/auth/token", order_id=None, status=401),
    )

    def paths(items: list[dict[str, Any]]) -> list[str]:
        return [i["path"] for i in items]

    assert paths(await trail(client, actor="olivia")) == ["/api/orders/o-9/cancel", "/api/waves"]
    assert paths(await trail(client, order_id="o-9")) == ["/api/orders", "/api/orders/o-9/cancel"]
    assert paths(await trail(client, path="/api/orders")) == ["/api/orders", "/api/orders/o-9/cancel"]
    assert paths(await trail(client, path="/api/orders/{order_id}/cancel")) == ["/api/orders/o-9/cancel"]
    assert paths(await trail(client, path="/api/order")) == []  # a prefix of a segment is no match
    assert paths(await trail(client, path="/api/orders_")) == []  # LIKE wildcards are plain characters
    hour_ago = (now - timedelta(hours=1)).isoformat()
    assert paths(await trail(client, until=hour_ago)) == ["/api/orders"]
    assert len(await trail(client, since=hour_ago)) == 3

    newest = (await client.get("/records", params={"limit": 2, "offset": 1})).json()
    assert (newest["total"], newest["limit"], newest["offset"]) == (4, 2, 1)
    assert paths(newest["items"]) == ["/api/waves", "/api/orders/o-9/cancel"]  # newest first by default


@pytest.mark.parametrize(
    "body",
    [
        {"items": []},
        {"items": [entry() for _ in range(1001)]},
        {"items": [entry(request_digest="not-a-digest")]},
        {"items": [entry(at="2026-01-01T00:00:00")]},  # naive
        {"items": [entry(record_id="has space")]},
        {"items": [entry(status=99)]},
        {"items": [{**entry(), "password": "x"}]},
        {},
    ],
)
async def test_bad_batches_are_422_and_append_nothing(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    resp = await client.post("/records", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["type"] == "ValidationError"
    assert (await client.get("/records")).json()["total"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"path": "api/orders"},
        {"since": "2026-01-01T00:00:00"},
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"limit": 0},
        {"limit": 501},
        {"offset": -1},
        {"actor": ""},
    ],
)
async def test_bad_filters_are_422(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    resp = await client.get("/records", params=params)
    assert resp.status_code == 422, resp.text
    assert resp.json()["type"] == "ValidationError"


async def test_the_service_demands_the_service_token(client: httpx.AsyncClient) -> None:
    resp = await client.get("/records", headers={"X-PakLog-Service-Token": "wrong"})
    assert resp.status_code == 401


async def _walk(client: httpx.AsyncClient, **params: Any) -> list[list[int]]:
    """Every page of ``GET /records`` by its cursor: the ``seq`` of each page's records."""
    pages: list[list[int]] = []
    while True:
        resp = await client.get("/records", params=params)
        assert resp.status_code == 200, resp.text
        pages.append([r["seq"] for r in resp.json()["items"]])
        if resp.json()["next_cursor"] is None:
            return pages
        params["cursor"] = resp.json()["next_cursor"]


async def test_the_trail_is_walked_to_its_end_by_cursor_in_either_order(client: httpx.AsyncClient) -> None:
    await append(client, *(entry(actor="walker" if n % 2 else "other") for n in range(7)))
    assert await _walk(client, limit=3) == [[7, 6, 5], [4, 3, 2], [1]]
    assert await _walk(client, limit=3, oldest_first="true") == [[1, 2, 3], [4, 5, 6], [7]]
    assert await _walk(client, limit=2, actor="walker") == [[6, 4], [2]]
    # Records appended meanwhile are newer: the walk newest first never meets them, nor shifts.
    first = (await client.get("/records", params={"limit": 3})).json()
    await append(client, entry(), entry())
    second = (await client.get("/records", params={"limit": 3, "cursor": first["next_cursor"]})).json()
    assert [r["seq"] for r in second["items"]] == [4, 3, 2]


async def test_a_cursor_not_given_out_by_this_order_is_422(client: httpx.AsyncClient) -> None:
    await append(client, entry(), entry())
    newest = (await client.get("/records", params={"limit": 1})).json()["next_cursor"]
    for params in (
        {"cursor": "not-a-cursor"},
        {"cursor": newest, "oldest_first": "true"},  # a cursor of the other order
        {"cursor": "eyJ2IjoxLCJsIjoiYXVkaXQ6ZGVzYyIsImsiOiIxIn0"},  # the key as text
        {"cursor": "x" * 300},
    ):
        resp = await client.get("/records", params=params)
        assert resp.status_code == 422, params
        assert resp.json()["type"] in ("InvalidCursor", "ValidationError"), params
