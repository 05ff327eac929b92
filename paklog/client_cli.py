"""``paklog client``: partner systems' OAuth2 clients (client credentials), for admins at the platform's terminal.

It calls identity directly with the deployment's service token, as ``paklog
check stock`` reads the services: whoever can read that token administers the
platform already, and no admin password has to be typed or kept in a shell
history. A client's secret is printed once, by ``create`` and ``rotate``;
identity keeps only its argon2 hash. The gateway offers the same to admins
over HTTP (``/api/admin/clients``).
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from common.service_auth import service_headers
from common.settings import PaklogSettings, ServiceUrls
from paklog.settings import saved_service_token

console = Console()
client_app = typer.Typer(
    help="Partner clients (OAuth2 client credentials): create, rotate, list.", no_args_is_help=True
)


def _urls() -> ServiceUrls:
    saved = saved_service_token(PaklogSettings().state_dir)
    return ServiceUrls(service_token=saved) if saved is not None else ServiceUrls()


def identity_http() -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """A client of identity carrying the service token, to use in ``async with`` (a seam for tests)."""
    urls = _urls()
    return httpx.AsyncClient(
        base_url=urls.identity_url, timeout=30, headers=service_headers(urls.service_token.get_secret_value())
    )


async def _call(
    method: str, path: str, body: dict[str, Any] | None = None, params: dict[str, Any] | None = None
) -> httpx.Response:
    async with identity_http() as http:
        return await http.request(method, path, json=body, params=params)


def _request(method: str, path: str, body: dict[str, Any] | None = None, params: dict[str, Any] | None = None) -> Any:
    try:
        resp = asyncio.run(_call(method, path, body, params))
    except httpx.HTTPError as exc:
        console.print(f"[red]identity is unreachable[/red]: {exc}")
        raise typer.Exit(2) from None
    if resp.status_code >= 400:
        console.print(f"[red]{resp.status_code}[/red] {resp.text[:300]}")
        raise typer.Exit(1)
    return resp.json()


def _print_secret(credentials: dict[str, Any], what: str) -> None:
    console.print(f"{what} client [bold]{credentials['client_id']}[/bold] (scopes: {' '.join(credentials['scopes'])})")
    console.print(f"client_id:     {credentials['client_id']}")
    console.print(f"client_secret: {credentials['client_secret']}")
    console.print("[yellow]The secret is shown only now; store it in the partner's configuration.[/yellow]")


@client_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The partner's name, e.g. 'Carrier Swift'")],
    scope: Annotated[list[str], typer.Option("--scope", help="A granted scope (repeat for more), e.g. erp")],
    client_id: Annotated[str | None, typer.Option("--id", help="The client id (default: from the name)")] = None,
) -> None:
    """Register a partner client and print its id and secret, once."""
    body: dict[str, Any] = {"name": name, "scopes": scope}
    if client_id is not None:
        body["client_id"] = client_id
    _print_secret(_request("POST", "/clients", body), "created")


@client_app.command("rotate")
def rotate(client_id: Annotated[str, typer.Argument(help="The client's id")]) -> None:
    """Issue a new secret (printed once); the old one stops working at once."""
    _print_secret(_request("POST", f"/clients/{client_id}/rotate"), "rotated")


@client_app.command("list")
def list_clients() -> None:
    """The partner clients and their scopes (never their secrets)."""
    table = Table(title="partner clients")
    table.add_column("client_id", no_wrap=True)  # copied into `paklog client rotate`: never cut
    for column in ("name", "scopes", "created"):
        table.add_column(column, overflow="fold")
    for client in _every_client():
        table.add_row(client["client_id"], client["name"], " ".join(client["scopes"]), client["created_at"])
    console.print(table)


#: Clients per page read by ``list`` (identity's largest page).
LIST_PAGE_SIZE = 200


def _every_client() -> list[dict[str, Any]]:
    """Every partner client, page by page with identity's cursor (by id, so none is listed twice)."""
    clients: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": LIST_PAGE_SIZE}
    while True:
        page = _request("GET", "/clients", params=params)
        clients.extend(page["items"])
        if page.get("next_cursor") is None:
            return clients
        params["cursor"] = page["next_cursor"]
