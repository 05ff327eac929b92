"""``paklog wave|pick|pack|check``: the warehouse floor from a terminal.

Waves, picks and packing go through the gateway, logged in as an operator
(``olivia`` by default), exactly as a scanner would. ``check stock`` reads
two services directly with the deployment's service token: it audits them,
so it must not depend on the door it audits.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from common.service_auth import service_headers
from common.settings import PaklogSettings, ServiceUrls
from paklog.settings import saved_service_token
from paklog.stock_check import BinTotal, InventoryTotal, compare

console = Console()
wave_app = typer.Typer(help="Plan, release and list waves (as an operator, through the gateway).", no_args_is_help=True)
pick_app = typer.Typer(help="Take and confirm pick tasks (as an operator, through the gateway).", no_args_is_help=True)
check_app = typer.Typer(help="Consistency checks across the services.", no_args_is_help=True)

GatewayOpt = Annotated[str, typer.Option(envvar="PAKLOG_GATEWAY_URL", help="Gateway base URL")]
OperatorOpt = Annotated[str, typer.Option("--user", "-u", help="Login name (an operator or admin)")]
PasswordOpt = Annotated[str, typer.Option("--password", "-p", help="Password")]
DEFAULT_GATEWAY = "http://127.0.0.1:8000"


def _run(coro: Coroutine[Any, Any, int]) -> None:
    raise typer.Exit(asyncio.run(coro))


def run_reaching(coro: Coroutine[Any, Any, int], unreachable: str) -> None:
    """Run a command that talks to the services; a service out of reach prints ``unreachable`` and exits 2."""
    try:
        _run(coro)
    except httpx.HTTPError as exc:
        console.print(f"[red]{unreachable}[/red]: {exc}")
        raise typer.Exit(2) from None


@asynccontextmanager
async def _operator(gateway_url: str, user: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60) as http:
        resp = await http.post("/api/auth/token", data={"username": user, "password": password})
        if resp.status_code != 200:
            console.print(f"[red]login failed[/red]: {resp.text}")
            raise typer.Exit(1)
        http.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"
        yield http


def _show(resp: httpx.Response) -> int:
    """Print the answer as JSON; exit status 1 for an error answer."""
    if resp.content:
        console.print_json(json.dumps(resp.json()))
    return 0 if resp.status_code < 400 else 1


def _tasks_table(title: str, tasks: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for column in ("task", "order", "location", "sku", "lot", "qty", "status"):
        # Ids are copied into the next command: folded, never cut.
        table.add_column(column, overflow="fold")
    for t in tasks:
        table.add_row(
            t["task_id"], t["order_id"], t["location"], t["sku"], t["lot"] or "", str(t["quantity"]), t["status"]
        )
    return table


def _wave_answer(resp: httpx.Response) -> int:
    if resp.status_code >= 400:
        return _show(resp)
    wave = resp.json()
    console.print(
        f"wave [bold]{wave['wave_id']}[/bold] {wave['status']}: {len(wave['order_ids'])} orders "
        f"({', '.join(wave['order_ids'])}); workflow wave-{wave['wave_id']}"
    )
    if wave.get("tasks"):
        console.print(_tasks_table("pick tasks (pick-path order)", wave["tasks"]))
    return 0


@wave_app.command("plan")
def wave_plan(
    max_orders: Annotated[int | None, typer.Option(help="At most this many orders")] = None,
    max_lines: Annotated[int | None, typer.Option(help="At most this many order lines")] = None,
    gateway_url: GatewayOpt = DEFAULT_GATEWAY,
    user: OperatorOpt = "olivia",
    password: PasswordOpt = "olivia-pass",
) -> None:
    """Plan a wave now from the orders waiting; release it with `paklog wave release`."""
    body = {k: v for k, v in (("max_orders", max_orders), ("max_lines", max_lines)) if v is not None}

    async def go() -> int:
        async with _operator(gateway_url, user, password) as http:
            return _wave_answer(await http.post("/api/waves", json=body))

    _run(go())


@wave_app.command("release")
def wave_release(
    wave_id: str,
    gateway_url: GatewayOpt = DEFAULT_GATEWAY,
    user: OperatorOpt = "olivia",
    password: PasswordOpt = "olivia-pass",
) -> None:
    """Release a planned wave to the floor: its tasks become pickable."""

    async def go() -> int:
        async with _operator(gateway_url, user, password) as http:
            return _wave_answer(await http.post(f"/api/waves/{wave_id}/release"))

    _run(go())


@wave_app.command("list")
def wave_list(
    status: Annotated[str | None, typer.Option(help="PLANNED, RELEASED, PICKING, DONE or CANCELLED")] = None,
    limit: Annotated[int, typer.Option(help="At most this many")] = 50,
    gateway_url: GatewayOpt = DEFAULT_GATEWAY,
    user: OperatorOpt = "olivia",
    password: PasswordOpt = "olivia-pass",
) -> None:
    """Waves, newest first."""

    async def go() -> int:
        async with _operator(gateway_url, user, password) as http:
            params: dict[str, Any] = {"limit": limit, **({"status": status} if status else {})}
            resp = await http.get("/api/waves", params=params)
        if resp.status_code != 200:
            return _show(resp)
        table = Table(title=f"waves ({resp.json()['total']} in all)" if resp.json()["total"] is not None else "waves")
        for column in ("wave", "status", "orders", "open", "picked", "short", "created"):
            table.add_column(column, overflow="fold")
        for w in resp.json()["items"]:
            counts = w["counts"]
            table.add_row(
                w["wave_id"],
                w["status"],
                str(len(w["order_ids"])),
                str(counts["open"] + counts["assigned"]),
                str(counts["picked"]),
                str(counts["short"]),
                w.get("created_at") or "",
            )
        console.print(table)
        return 0

    _run(go())


@pick_app.command("next")
def pick_next(
    wave: Annotated[str | None, typer.Option(help="Only tasks of this wave")] = None,
    gateway_url: GatewayOpt = DEFAULT_GATEWAY,
    user: OperatorOpt = "olivia",
    password: PasswordOpt = "olivia-pass",
) -> None:
    """Take the next pick task (yours if you hold one), in pick-path order."""

    async def go() -> int:
        async with _operator(gateway_url, user, password) as http:
            resp = await http.get("/api/pick-tasks/next", params={"wave_id": wave} if wave else None)
        if resp.status_code == 204:
            console.print("no open pick task")
            return 0
        if resp.status_code != 200:
            return _show(resp)
        task = resp.json()
        console.print(_tasks_table("your task", [task]))
        lot = f" --lot {task['lot']}" if task["lot"] else ""
        console.print(
            f"confirm: paklog pick confirm {task['task_id']} --location {task['location']} --sku {task['sku']}"
            f"{lot} --quantity {task['quantity']}",
            soft_wrap=True,
        )
        return 0

    _run(go())


@pick_app.command("confirm")
def pick_confirm(
    task_id: str,
    location: Annotated[str, typer.Option(help="The bin scanned")],
    sku: Annotated[str, typer.Option(help="The SKU scanned")],
    quantity: Annotated[int, typer.Option(help="Units taken (fewer than the task's: a short pick)")],
    lot: Annotated[str | None, typer.Option(help="The lot scanned (none for SKUs kept without lots)")] = None,
    gateway_url: GatewayOpt = DEFAULT_GATEWAY,
    user: OperatorOpt = "olivia",
    password: PasswordOpt = "olivia-pass",
) -> None:
    """Confirm a pick task with what you scanned at the bin."""
    body = {"location": location, "sku": sku, "lot": lot, "quantity": quantity}

    async def go() -> int:
        async with _operator(gateway_url, user, password) as http:
            return _show(await http.post(f"/api/pick-tasks/{task_id}/confirm", json=body))

    _run(go())


def _parse_item(spec: str) -> dict[str, Any]:
    sku, sep, qty = spec.partition("=")
    try:
        return {"sku": sku.strip().upper(), "quantity": int(qty) if sep else 1}
    except ValueError:
        raise typer.BadParameter(f"--item takes SKU=QTY, got {spec!r}") from None


def pack(
    order_id: str,
    item: Annotated[list[str], typer.Option("--item", "-i", help="SKU=QTY scanned into the carton, repeatable")],
    station: Annotated[str, typer.Option(help="Packing station")] = "PACK-1",
    gateway_url: GatewayOpt = DEFAULT_GATEWAY,
    user: OperatorOpt = "olivia",
    password: PasswordOpt = "olivia-pass",
) -> None:
    """Pack a picked order: the items must match what was picked (a mismatch is 409 with the difference)."""
    body = {"station": station, "items": [_parse_item(spec) for spec in item]}

    async def go() -> int:
        async with _operator(gateway_url, user, password) as http:
            return _show(await http.post(f"/api/orders/{order_id}/pack", json=body))

    _run(go())


def _service_urls() -> ServiceUrls:
    """The services' URLs and token: ``PAKLOG_SERVICE_TOKEN``, else the one ``paklog dev`` keeps in the state folder."""
    saved = saved_service_token(PaklogSettings().state_dir)
    return ServiceUrls(service_token=saved) if saved is not None else ServiceUrls()


async def _pending_hint(urls: ServiceUrls) -> None:
    """Name the ERP counts that have not reached the warehouse's adjustment bin yet (a cause of a mismatch)."""
    headers = service_headers(urls.service_token.get_secret_value())
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        resp = await http.get(f"{urls.inventory_url}/stock/adjustments", params={"pending": "true", "limit": 1})
    pending = int(resp.json()["total"]) if resp.status_code == 200 else 0
    if pending:
        console.print(
            f"[yellow]{pending} ERP count change(s) not yet in the stock-adjustment bin[/yellow]: "
            "`paklog stock carry` carries them"
        )


@check_app.command("stock")
def check_stock(
    every: Annotated[bool, typer.Option("--all", help="List every SKU, not only the inconsistent ones")] = False,
) -> None:
    """Compare the warehouse's bins with inventory's totals per SKU; exit 1 on any mismatch."""
    urls = _service_urls()

    async def go() -> int:
        headers = service_headers(urls.service_token.get_secret_value())
        async with httpx.AsyncClient(timeout=30, headers=headers) as http:
            inventory, warehouse = await asyncio.gather(
                http.get(f"{urls.inventory_url}/stock/totals"), http.get(f"{urls.warehouse_url}/stock/totals")
            )
        for resp in (inventory, warehouse):
            if resp.status_code != 200:
                console.print(f"[red]{resp.request.url} answered {resp.status_code}[/red]: {resp.text[:300]}")
                return 2
        rows = compare(
            [InventoryTotal.from_json(r) for r in inventory.json()], [BinTotal.from_json(r) for r in warehouse.json()]
        )
        table = Table(title="stock: warehouse bins vs inventory")
        for column in ("sku", "bins", "on_hand", "available", "reserved", "allocated", "problems"):
            table.add_column(column)
        shown = rows if every else [r for r in rows if not r.ok]
        for r in shown:
            problems = "; ".join(r.problems)
            table.add_row(
                r.sku,
                str(r.bins),
                str(r.on_hand),
                str(r.available),
                str(r.reserved),
                str(r.allocated),
                f"[red]{problems}[/red]" if problems else "[green]ok[/green]",
            )
        if shown:
            console.print(table)
        broken = [r.sku for r in rows if not r.ok]
        if broken:
            names = ", ".join(broken[:20]) + (f" and {len(broken) - 20} more" if len(broken) > 20 else "")
            console.print(f"[red]{len(broken)} SKU(s) inconsistent[/red]: {names}")
            await _pending_hint(urls)
            return 1
        console.print(f"[green]{len(rows)} SKUs consistent[/green]")
        return 0

    run_reaching(go(), "a service is unreachable")
