"""Errors that escape a route still answer ``{"type", "detail"}`` with a fitting status."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

from common.errors import install_error_handlers


def app_raising(error: Exception) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/things")
    async def create() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(
            IntegrityError("INSERT INTO things", {}, asyncpg.UniqueViolationError("duplicate key")), id="sqlalchemy"
        ),
        pytest.param(asyncpg.UniqueViolationError("duplicate key value violates unique constraint"), id="asyncpg"),
    ],
)
async def test_an_integrity_race_is_409_conflict(error: Exception) -> None:
    transport = httpx.ASGITransport(app=app_raising(error))
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        resp = await client.post("/things")
    assert resp.status_code == 409
    assert resp.json()["type"] == "Conflict"
    assert set(resp.json()) == {"type", "detail"}
    assert "duplicate" not in resp.json()["detail"]  # no driver text leaks out
