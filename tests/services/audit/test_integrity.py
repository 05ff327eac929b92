"""Insert-only by privilege, and tampering found by ``paklog audit verify`` at the right seq, for the right reason."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from paklog.cli import app as cli
from services.audit.chain import Anchor, record_hash
from services.audit.settings import WRITER_ROLE, as_role
from services.audit.verify import verify_database
from tests.services.audit.conftest import AuditDb, append, entry

CHAIN_LENGTH = 6


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture
async def chain(client: httpx.AsyncClient) -> dict[str, Any]:
    """Six records appended through the service (two batches); answers the last append."""
    await append(client, *(entry(path=f"/api/orders/o-{n}") for n in range(4)))
    return await append(client, *(entry(path=f"/api/orders/o-{n}") for n in range(4, CHAIN_LENGTH)))


@pytest.fixture
async def owner(audit_db: AuditDb) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the database's owner: someone with every right, tampering by hand."""
    conn = await asyncpg.connect(_dsn(audit_db.owner_url))
    try:
        yield conn
    finally:
        await conn.close()


async def _verify_cli(url: str, *extra: str) -> tuple[int, str]:
    """``paklog audit verify`` as an operator runs it (in a thread: it runs its own event loop)."""
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["audit", "verify", "--database-url", url, *extra])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(
    ("statement", "verb"),
    [
        ("UPDATE audit_records SET actor = 'mallory' WHERE seq = 2", "UPDATE"),
        ("DELETE FROM audit_records WHERE seq = 2", "DELETE"),
        ("TRUNCATE audit_records", "TRUNCATE"),
    ],
)
async def test_the_writer_role_may_not_change_or_remove_a_record(
    audit_db: AuditDb, chain: dict[str, Any], statement: str, verb: str
) -> None:
    writer = await asyncpg.connect(_dsn(audit_db.writer_url))
    try:
        assert await writer.fetchval("SELECT current_user") == "paklog_audit_writer"
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await writer.execute(statement)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await writer.execute("CREATE TABLE shadow (seq bigint)")
        assert await writer.fetchval("SELECT count(*) FROM audit_records") == CHAIN_LENGTH
    finally:
        await writer.close()
    verdict = await verify_database(audit_db.writer_url)
    assert (verdict.broken, verdict.count) == (None, CHAIN_LENGTH), verb


async def test_an_intact_chain_verifies_with_its_count_and_head(audit_db: AuditDb, chain: dict[str, Any]) -> None:
    code, output = await _verify_cli(audit_db.writer_url)
    assert code == 0, output
    assert f"intact: {CHAIN_LENGTH} records, head {CHAIN_LENGTH}:{chain['head_hash']}" in output
    code, output = await _verify_cli(audit_db.writer_url, "--anchor", f"{CHAIN_LENGTH}:{chain['head_hash']}")
    assert code == 0, output


async def test_an_edited_record_breaks_at_its_seq(
    audit_db: AuditDb, chain: dict[str, Any], owner: asyncpg.Connection
) -> None:
    await owner.execute("UPDATE audit_records SET status = 200, actor = 'someone-else' WHERE seq = 3")
    code, output = await _verify_cli(audit_db.writer_url)
    assert code == 1
    assert "BROKEN at seq 3 (hash)" in output
    assert "edited" in output
    assert "2 records before it are intact" in output


async def test_an_edit_with_a_recomputed_hash_breaks_at_the_next_seq(
    audit_db: AuditDb, chain: dict[str, Any], owner: asyncpg.Connection
) -> None:
    row = dict(await owner.fetchrow("SELECT * FROM audit_records WHERE seq = 3"))
    forged = {**row, "actor": "someone-else"}
    await owner.execute(
        "UPDATE audit_records SET actor = $1, hash = $2 WHERE seq = 3", forged["actor"], record_hash(forged)
    )
    verdict = await verify_database(audit_db.writer_url)
    assert verdict.broken is not None
    assert (verdict.broken.seq, verdict.broken.reason, verdict.count) == (4, "prev_hash", 3)


async def test_a_deleted_record_breaks_at_its_seq(
    audit_db: AuditDb, chain: dict[str, Any], owner: asyncpg.Connection
) -> None:
    await owner.execute("DELETE FROM audit_records WHERE seq = 4")
    code, output = await _verify_cli(audit_db.writer_url)
    assert code == 1
    assert "BROKEN at seq 4 (gap)" in output
    assert "deleted" in output


async def test_an_inserted_record_breaks_right_after_it(
    audit_db: AuditDb, chain: dict[str, Any], owner: asyncpg.Connection
) -> None:
    # A forger renumbers seq 3.. up by one and slips a record in at seq 3, hashed correctly onto seq 2.
    async with owner.transaction():
        await owner.execute("UPDATE audit_records SET seq = seq + 1000 WHERE seq >= 3")
        await owner.execute("UPDATE audit_records SET seq = seq - 999 WHERE seq >= 1000")
        before = await owner.fetchrow("SELECT hash FROM audit_records WHERE seq = 2")
        row = await owner.fetchrow("SELECT * FROM audit_records WHERE seq = 4")
        inserted = {**dict(row), "seq": 3, "record_id": "forged", "actor": "nobody", "prev_hash": before["hash"]}
        inserted["hash"] = record_hash(inserted)
        columns = ", ".join(inserted)
        values = ", ".join(f"${n}" for n in range(1, len(inserted) + 1))
        await owner.execute(f"INSERT INTO audit_records ({columns}) VALUES ({values})", *inserted.values())
    code, output = await _verify_cli(audit_db.writer_url)
    assert code == 1
    assert "BROKEN at seq 4 (prev_hash)" in output
    assert "inserted" in output
    assert "3 records before it are intact" in output


async def test_a_forged_record_appended_at_the_end_breaks_at_its_seq(
    audit_db: AuditDb, chain: dict[str, Any], owner: asyncpg.Connection
) -> None:
    row = dict(await owner.fetchrow("SELECT * FROM audit_records WHERE seq = 2"))
    forged = {**row, "seq": CHAIN_LENGTH + 1, "record_id": "forged"}  # still points at seq 1's hash
    forged["hash"] = record_hash(forged)
    columns = ", ".join(forged)
    values = ", ".join(f"${n}" for n in range(1, len(forged) + 1))
    await owner.execute(f"INSERT INTO audit_records ({columns}) VALUES ({values})", *forged.values())
    verdict = await verify_database(audit_db.writer_url)
    assert verdict.broken is not None
    assert (verdict.broken.seq, verdict.broken.reason) == (CHAIN_LENGTH + 1, "prev_hash")


async def test_records_cut_from_the_end_are_found_only_against_an_anchor(
    audit_db: AuditDb, chain: dict[str, Any], owner: asyncpg.Connection
) -> None:
    anchor = Anchor(CHAIN_LENGTH, chain["head_hash"])
    await owner.execute("DELETE FROM audit_records WHERE seq >= $1", CHAIN_LENGTH - 1)
    assert (await verify_database(audit_db.writer_url)).broken is None  # what a chain alone cannot see
    verdict = await verify_database(audit_db.writer_url, anchor)
    assert verdict.broken is not None
    assert (verdict.broken.seq, verdict.broken.reason) == (CHAIN_LENGTH - 1, "anchor")


async def test_verify_exits_2_when_it_cannot_read(audit_db: AuditDb) -> None:
    wrong_password = "not-the-writers-password"
    code, output = await _verify_cli(as_role(audit_db.writer_url, WRITER_ROLE, wrong_password))
    assert code == 2
    assert "cannot read the audit database" in output
    assert wrong_password not in output
