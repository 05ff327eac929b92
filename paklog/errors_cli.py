"""``paklog errors``: the newest entries of the central exception log (docs/errors-and-tracing.md).

It asks the audit service's ``GET /exceptions`` with the service token
(``PAKLOG_SERVICE_TOKEN``, else the one ``paklog dev`` keeps in its state
folder), as ``paklog stock`` asks the services; it talks HTTP only.

Exit 0: the table was printed (maybe empty). Exit 1: the service refused the
query. Exit 2: the audit service could not be reached.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from common.service_auth import service_headers
from common.settings import PaklogSettings, ServiceUrls
from paklog.settings import saved_service_token

console = Console()


def _since(value: str | None) -> str | None:
    """``--since``: an ISO time with a zone, or ``<n>m`` / ``<n>h`` / ``<n>d`` ago."""
    if value is None:
        return None
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if value[:-1].isdigit() and value[-1:] in units:
        return (datetime.now(UTC) - timedelta(**{units[value[-1]]: int(value[:-1])})).isoformat()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("an ISO 8601 time with a zone, or 30m, 2h, 7d") from None
    if moment.tzinfo is None:
        raise typer.BadParameter("give the time with its zone (…Z or +01:00)")
    return moment.isoformat()


def _urls() -> ServiceUrls:
    saved = saved_service_token(PaklogSettings().state_dir)
    return ServiceUrls(service_token=saved) if saved is not None else ServiceUrls()


def errors(
    since: Annotated[str | None, typer.Option(help="From this time on: ISO 8601 with a zone, or 30m, 2h, 7d")] = None,
    request_id: Annotated[str | None, typer.Option("--request-id", help="Only this X-Request-ID")] = None,
    service: Annotated[str | None, typer.Option(help="Only this process: gateway, orders, worker ...")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="Rows to show, newest first")] = 20,
    stack: Annotated[bool, typer.Option("--stack", help="Print each row's stack below the table")] = False,
) -> None:
    """The newest unexpected exceptions of every process, with their request ids."""
    urls = _urls()
    params: dict[str, Any] = {"limit": limit}
    for name, value in (("since", _since(since)), ("request_id", request_id), ("service", service)):
        if value is not None:
            params[name] = value
    try:
        with httpx.Client(timeout=30, headers=service_headers(urls.service_token.get_secret_value())) as http:
            resp = http.get(f"{urls.audit_url}/exceptions", params=params)
    except httpx.HTTPError as exc:
        console.print(f"[red]the audit service is unreachable[/red] at {urls.audit_url}: {exc}")
        raise typer.Exit(2) from None
    if resp.status_code != 200:
        console.print(f"[red]{resp.status_code}[/red] {resp.text[:300]}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    page = resp.json()
    table = Table(title=f"exceptions ({page['total']} rows match; newest first)")
    for column in ("at", "service", "type", "message", "request id", "workflow", "count"):
        table.add_column(column, overflow="fold")
    for row in page["items"]:
        table.add_row(
            row["at"][:19].replace("T", " "),
            row["service"],
            row["type"].removeprefix("builtins."),
            row["message"][:120],
            row["request_id"] or "",
            row["workflow_id"] or "",
            str(row["count"]),
        )
    console.print(table)
    if stack:
        for row in page["items"]:
            console.rule(f"{row['id']} {row['service']} {row['request_id'] or ''}")
            console.print(row["stack"], highlight=False, markup=False)
    sys.stdout.flush()
