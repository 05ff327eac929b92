"""``IdempotentCall.run_in_phases``: the key's claim commits with the first transaction's work, its answer with the last's.

On real PostgreSQL with real commits: what matters is what a crash, a refusal
or a repeat leaves in the database between the phases.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel
from sqlalchemy import text

from common.db import SessionDep, create_engine
from common.errors import Conflict
from common.idempotency import IDEMPOTENCY_LEASE, Answer, IdempotentDep, Phases, Recorded, fingerprint
from common.service_app import create_service_app
from common.settings import ServiceSettings
from common.sql import Sql, driver_connection
from tests.conftest import FreshDatabase
from tests.support import committing_client

STEP = Sql("INSERT INTO phase_probe (key, step) VALUES (:key, :step)")


class Done(BaseModel):
    steps: int


class Crash(BaseException):
    """The process dies between the phases: nothing of the helper's clean-up runs."""


router = APIRouter()


@router.post("/work/{mode}", status_code=201, response_model=Done)
async def work(mode: str, request: Request, session: SessionDep, once: IdempotentDep) -> Done:
    calls: list[str] = request.app.state.calls

    async def step(name: str) -> None:
        await STEP.execute(await driver_connection(session), key=once.key, step=name)

    async def last() -> Done:
        await step("last")
        if mode == "declined":
            raise Recorded(Conflict("recorded refusal", type="Refusal"))
        return Done(steps=2)

    async def operation(phases: Phases) -> Done | Answer[Done]:
        calls.append(mode)
        async with phases.transaction():
            await step("first")
            if mode == "refused-first":
                raise Conflict("refused in the first transaction", type="Refused")
        # Between the phases: where an outside call (a card processor, a mail server) goes.
        if mode == "refused-between":
            raise Conflict("refused between the transactions", type="Refused")
        if mode == "crash" and calls.count("crash") == 1:
            raise Crash
        if mode == "early":
            return Answer(200, Done(steps=1))
        return await phases.last(last)

    return await once.run_in_phases(fingerprint("work", mode), operation)


def make_app(settings: ServiceSettings, calls: list[str] | None = None) -> FastAPI:
    """The probe app; ``calls`` receives each run of the operation (its mode)."""
    app = create_service_app(settings, title="phases probe", routers=[router])
    app.state.calls = [] if calls is None else calls
    return app


@pytest.fixture
async def database(fresh_database: FreshDatabase) -> AsyncIterator[str]:
    url = await fresh_database("payments")  # any service database has idempotency_keys
    engine = create_engine(url, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE phase_probe (key text, step text)"))
    try:
        yield url
    finally:
        await engine.dispose()


async def state(url: str, key: str) -> tuple[list[str], tuple[int | None, bool] | None]:
    """The probe's committed steps for ``key``, and the key's row: (status code, has an answer)."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            steps = (await conn.execute(text("SELECT step FROM phase_probe WHERE key = :k"), {"k": key})).scalars()
            row = (
                await conn.execute(
                    text("SELECT status_code, response IS NOT NULL FROM idempotency_keys WHERE key = :k"), {"k": key}
                )
            ).first()
            return sorted(steps), None if row is None else (row[0], row[1])
    finally:
        await engine.dispose()


def key() -> str:
    return f"k-{uuid.uuid4().hex[:12]}"


async def post(client: httpx.AsyncClient, mode: str, k: str) -> httpx.Response:
    return await client.post(f"/work/{mode}", headers={"Idempotency-Key": k})


async def test_claim_and_answer_travel_with_the_work_and_a_repeat_is_answered(database: str) -> None:
    async with committing_client(make_app, "payments", database) as client:
        k = key()
        first = await post(client, "ok", k)
        assert (first.status_code, first.json()) == (201, {"steps": 2})
        assert await state(database, k) == (["first", "last"], (201, True))
        again = await post(client, "ok", k)
        assert (again.status_code, again.headers["Idempotent-Replayed"], again.json()) == (201, "true", {"steps": 2})
        other = await post(client, "early", k)
        assert (other.status_code, other.json()["type"]) == (409, "IdempotencyKeyReused")
        assert await state(database, k) == (["first", "last"], (201, True))


async def test_an_early_answer_is_stored_after_the_operation(database: str) -> None:
    async with committing_client(make_app, "payments", database) as client:
        k = key()
        assert (await post(client, "early", k)).status_code == 200
        assert await state(database, k) == (["first"], (200, True))
        assert (await post(client, "early", k)).headers["Idempotent-Replayed"] == "true"


async def test_a_refusal_in_the_first_transaction_rolls_back_the_claim_with_the_work(database: str) -> None:
    async with committing_client(make_app, "payments", database) as client:
        k = key()
        refused = await post(client, "refused-first", k)
        assert (refused.status_code, refused.json()["type"]) == (409, "Refused")
        assert await state(database, k) == ([], None)


async def test_a_refusal_after_the_first_transaction_releases_the_key_and_keeps_the_work(database: str) -> None:
    calls: list[str] = []
    async with committing_client(lambda settings: make_app(settings, calls), "payments", database) as client:
        k = key()
        assert (await post(client, "refused-between", k)).status_code == 409
        assert await state(database, k) == (["first"], None)
        assert (await post(client, "refused-between", k)).status_code == 409  # a retry runs again
        assert calls == ["refused-between"] * 2


async def test_a_recorded_refusal_in_the_last_transaction_is_stored_with_its_work(database: str) -> None:
    async with committing_client(make_app, "payments", database) as client:
        k = key()
        declined = await post(client, "declined", k)
        assert (declined.status_code, declined.json()["type"]) == (409, "Refusal")
        assert await state(database, k) == (["first", "last"], (409, True))
        replay = await post(client, "declined", k)
        assert (replay.headers["Idempotent-Replayed"], replay.json()) == ("true", declined.json())


async def test_a_crash_between_the_phases_leaves_a_claim_a_retry_takes_over_after_the_lease(database: str) -> None:
    async with committing_client(make_app, "payments", database) as client:
        k = key()
        with pytest.raises(Crash):
            await post(client, "crash", k)
        assert await state(database, k) == (["first"], (None, False))
        busy = await post(client, "crash", k)
        assert (busy.status_code, busy.json()["type"]) == (409, "IdempotencyKeyInProgress")

        engine = create_engine(database, pool_size=1)
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE idempotency_keys SET created_at = created_at - CAST(:age AS interval) WHERE key = :k"),
                {"age": IDEMPOTENCY_LEASE + timedelta(seconds=1), "k": k},
            )
        await engine.dispose()
        taken_over = await post(client, "crash", k)
        assert (taken_over.status_code, taken_over.json()) == (201, {"steps": 2})
        assert await state(database, k) == (["first", "first", "last"], (201, True))
