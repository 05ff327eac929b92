"""``paklog audit verify``: walk the audit chain and recompute every hash (docs/audit.md).

It reads the audit database directly, as the service's runtime role (which
may only insert and read), in a read-only transaction: the check needs no
running service and cannot change what it checks. The URL is the audit
service's own (``PAKLOG_AUDIT_DATABASE_URL``, else ``paklog_audit`` on
``PAKLOG_POSTGRES_URL`` as ``paklog_audit_writer``, whose password is
``PAKLOG_AUDIT_WRITER_PASSWORD`` or derived from the service token, which
``paklog dev`` saves in its state folder), or ``--database-url``.

Exit 0: intact (prints the record count and the head ``SEQ:HASH``; keep it
elsewhere and pass it back as ``--anchor`` to detect a rewritten or shortened
chain). Exit 1: broken (names the first broken ``seq`` and why). Exit 2: the
database could not be read.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
from rich.console import Console

from common.settings import PaklogSettings
from paklog.settings import saved_service_token
from services.audit.chain import Anchor
from services.audit.settings import AuditSettings
from services.audit.verify import verify_database

audit_app = typer.Typer(help="The audit trail of every gateway call.", no_args_is_help=True)
console = Console()


def _anchor(value: str | None) -> Anchor | None:
    if value is None:
        return None
    try:
        return Anchor.parse(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _database_url() -> str:
    saved = saved_service_token(PaklogSettings().state_dir)
    settings = AuditSettings(service_token=saved) if saved is not None else AuditSettings()
    return settings.resolved_database_url()


@audit_app.command("verify")
def verify(
    anchor: Annotated[
        str | None, typer.Option(help="SEQ:HASH of a head printed earlier, which the chain must still hold")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(help="The audit database (default: the audit service's own, as its runtime role)")
    ] = None,
) -> None:
    """Recompute the chain in seq order; exit 1 at the first break, naming it."""
    expected = _anchor(anchor)
    try:
        verdict = asyncio.run(verify_database(database_url or _database_url(), expected))
    except Exception as exc:  # unreachable, refused, no such table: asyncpg's errors share no narrower base
        console.print(f"cannot read the audit database: {type(exc).__name__}: {exc}", highlight=False, soft_wrap=True)
        code = 2
    else:
        if verdict.broken is None:
            console.print(
                f"audit chain intact: {verdict.count} records, head {verdict.head_seq}:{verdict.head_hash}",
                highlight=False,
                soft_wrap=True,
            )
            code = 0
        else:
            broken = verdict.broken
            console.print(
                f"audit chain BROKEN at seq {broken.seq} ({broken.reason}): {broken.detail}; "
                f"{verdict.count} records before it are intact",
                highlight=False,
                soft_wrap=True,
            )
            code = 1
    sys.stdout.flush()
    raise typer.Exit(code)
