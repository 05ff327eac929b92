"""The embedded PostgreSQL trusts nobody: loopback only, and a password kept 0600 beside its data."""

from __future__ import annotations

import stat
from pathlib import Path

import asyncpg
import pytest

from paklog.embedded_pg import EmbeddedPostgres
from tests.support import free_port


async def _connects(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
        return False
    except asyncpg.PostgresError as exc:
        if "password" in str(exc):
            return False
        raise
    await conn.close()
    return True


async def _assert_password_only(server: EmbeddedPostgres) -> None:
    base = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
    assert not await _connects(base)
    assert not await _connects(f"postgresql://postgres:wrong@127.0.0.1:{server.port}/postgres")
    assert await _connects(server.url.replace("+asyncpg", "") + "/postgres")


@pytest.fixture
def server(tmp_path: Path) -> EmbeddedPostgres:
    return EmbeddedPostgres(tmp_path / "pgdata", free_port())


async def test_a_new_cluster_needs_the_generated_password(server: EmbeddedPostgres) -> None:
    server.start()
    try:
        assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600
        assert server.password_file.parent == server.data_dir.parent
        assert server.password in server.url
        await _assert_password_only(server)
    finally:
        server.destroy()


async def test_a_cluster_made_with_trust_gets_a_password(server: EmbeddedPostgres) -> None:
    # What an older PakLog left behind: trust for every local user.
    server.data_dir.mkdir(parents=True)
    server.data_dir.chmod(0o700)
    server._prepare_permissions()
    server._run("initdb", "-D", str(server.data_dir), "--auth=trust", "-U", "postgres", "--no-sync")
    with (server.data_dir / "postgresql.conf").open("a") as conf:
        conf.write("unix_socket_directories = ''\n")
    try:
        server.start()
        await _assert_password_only(server)
        # A restart keeps the same password.
        url = server.url
        server.stop()
        server.start()
        assert server.url == url
        await _assert_password_only(server)
    finally:
        server.destroy()
