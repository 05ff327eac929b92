"""``paklog stock``: the stock-adjustment bin's tools for operators on the host (docs/erp.md, part D).

The ERP's on-hand counts reach the warehouse as deltas in the adjustment bin
``X-00-00-0``: units the ERP counted that nobody has put away yet (positive),
or units it wrote off that a count has yet to find (negative). These commands
talk to the services with the service token, as ``paklog check stock`` does:

* ``paklog stock adjustments`` lists inventory's adjustments (``--pending``: not yet in the warehouse);
* ``paklog stock carry`` carries the pending ones into the adjustment bin now
  (the import and the ERP's events do it by themselves; this is for after an outage);
* ``paklog stock move SKU FROM TO QTY`` moves free units between two bins, e.g.
  found units from the adjustment bin into a real one.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import httpx
import typer
from rich.table import Table

from activities.base import ServiceClient
from common.stock_adjustments import post_pending
from paklog.floor_cli import _service_urls, _show, console, run_reaching

#: The warehouse's stock-adjustment bin.
ADJUSTMENT_BIN = "X-00-00-0"

stock_app = typer.Typer(
    help="The stock-adjustment bin: the ERP's count differences and moving units between bins.", no_args_is_help=True
)


def _clients(http: httpx.AsyncClient) -> tuple[ServiceClient, ServiceClient]:
    urls = _service_urls()
    token = urls.service_token.get_secret_value()
    return ServiceClient(http, urls.inventory_url, token), ServiceClient(http, urls.warehouse_url, token)


def _raise_for_status(resp: httpx.Response) -> None:
    resp.raise_for_status()


@stock_app.command("adjustments")
def adjustments(
    pending: Annotated[bool, typer.Option("--pending", help="Only those not yet in the warehouse")] = False,
    sku: Annotated[str | None, typer.Option(help="Only this SKU")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Inventory's stock adjustments (the ERP's count changes), oldest first."""

    async def go() -> int:
        async with httpx.AsyncClient(timeout=30) as http:
            inventory, _ = _clients(http)
            params = {"limit": str(limit), **({"pending": "true"} if pending else {}), **({"sku": sku} if sku else {})}
            resp = await inventory.get("/stock/adjustments", params)
        if resp.status_code != 200:
            return _show(resp)
        page = resp.json()
        table = Table(title=f"stock adjustments ({page['total']} in all)")
        for column in ("id", "sku", "delta", "on_hand", "source", "ref", "created_at", "posted_at"):
            table.add_column(column)
        for row in page["items"]:
            table.add_row(
                str(row["id"]),
                row["sku"],
                f"{row['delta']:+d}",
                str(row["on_hand"]),
                row["source"],
                row["ref"],
                row["created_at"],
                row["posted_at"] or "[yellow]pending[/yellow]",
            )
        console.print(table)
        return 0

    run_reaching(go(), "a service is unreachable")


@stock_app.command("carry")
def carry() -> None:
    """Carry inventory's pending adjustments into the warehouse's adjustment bin now."""

    async def go() -> int:
        async with httpx.AsyncClient(timeout=60) as http:
            inventory, warehouse = _clients(http)
            carried = await post_pending(inventory, warehouse, _raise_for_status)
        console.print(f"[green]{carried} adjustment(s) carried[/green] into {ADJUSTMENT_BIN}")
        return 0

    run_reaching(go(), "carrying failed")


@stock_app.command("move")
def move(
    sku: Annotated[str, typer.Argument(help="The SKU")],
    source: Annotated[str, typer.Argument(metavar="FROM", help=f"The bin the units leave (e.g. {ADJUSTMENT_BIN})")],
    target: Annotated[str, typer.Argument(metavar="TO", help="The bin they go to")],
    quantity: Annotated[int, typer.Argument(min=1, max=100_000)],
    lot: Annotated[str | None, typer.Option(help="The lot (none: the rows without a lot)")] = None,
) -> None:
    """Move free units of one SKU (and lot) from one bin to another; exit 1 when the warehouse refuses."""

    async def go() -> int:
        body = {"sku": sku, "from": source, "to": target, "quantity": quantity, "lot": lot}
        async with httpx.AsyncClient(timeout=30) as http:
            _, warehouse = _clients(http)
            return _show(await warehouse.post("/stock/moves", body, f"cli-move:{uuid.uuid4()}"))

    run_reaching(go(), "the warehouse is unreachable")
