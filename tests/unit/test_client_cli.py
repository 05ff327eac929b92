"""``paklog client create|rotate|list`` against identity's real app (a fresh database of its own)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from typer.testing import CliRunner

from common.db import create_engine
from common.settings import ServiceSettings
from paklog import client_cli
from paklog.cli import app
from services.identity.app import create_app
from tests.conftest import FreshDatabase
from tests.support import service_credential


@pytest.fixture
def identity(fresh_database: FreshDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    async def database() -> str:
        return await fresh_database("identity")

    url = asyncio.run(database())
    settings = ServiceSettings(service="identity", database_url=url, environment="test")

    @asynccontextmanager
    async def http() -> AsyncIterator[httpx.AsyncClient]:
        # Built inside the command's own event loop, with a pool that lives as long as that loop.
        service = create_app(settings)
        engine = create_engine(url, pool_size=1)
        service.state.engine = engine
        service.state.sessionmaker = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=service),
                base_url="http://identity",
                headers=service_credential(settings),
            ) as client:
                yield client
        finally:
            await engine.dispose()

    monkeypatch.setattr(client_cli, "identity_http", http)


def token(client_id: str, secret: str) -> int:
    async def go() -> int:
        async with client_cli.identity_http() as http:
            form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
            return (await http.post("/token", data=form)).status_code

    return asyncio.run(go())


def printed_secret(output: str) -> tuple[str, str]:
    found_id = re.search(r"client_id:\s+(\S+)", output)
    found_secret = re.search(r"client_secret:\s+(\S+)", output)
    assert found_id, output
    assert found_secret, output
    return found_id.group(1), found_secret.group(1)


def test_create_prints_the_secret_once_and_rotate_replaces_it(identity: None) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["client", "create", "Carrier Swift", "--scope", "carrier", "--scope", "tracking"])
    assert created.exit_code == 0, created.output
    client_id, secret = printed_secret(created.output)
    assert client_id.startswith("carrier-swift-")
    assert token(client_id, secret) == 200

    listed = runner.invoke(app, ["client", "list"], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    assert client_id in listed.output
    assert secret not in listed.output

    rotated = runner.invoke(app, ["client", "rotate", client_id])
    assert rotated.exit_code == 0, rotated.output
    _, new_secret = printed_secret(rotated.output)
    assert new_secret != secret
    assert token(client_id, secret) == 401
    assert token(client_id, new_secret) == 200

    missing = runner.invoke(app, ["client", "rotate", "no-such-client"])
    assert missing.exit_code == 1
    dup = runner.invoke(app, ["client", "create", "Again", "--scope", "erp", "--id", client_id])
    assert (dup.exit_code, "ClientIdTaken" in dup.output) == (1, True)


def test_list_walks_every_page_of_clients(identity: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_cli, "LIST_PAGE_SIZE", 2)
    runner = CliRunner()
    ids = []
    for n in range(5):
        created = runner.invoke(app, ["client", "create", f"Partner {n}", "--scope", "erp", "--id", f"partner-{n}"])
        assert created.exit_code == 0, created.output
        ids.append(printed_secret(created.output)[0])
    listed = runner.invoke(app, ["client", "list"], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    assert [i for i in ids if i in listed.output] == ids
    assert listed.output.count("partner-") == 5
