"""The ``paklog`` command: run the platform, its parts, and talk to it."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import uvicorn
from rich.console import Console

from common.http import SERVER_KEEPALIVE_SECONDS
from common.logging import configure_process_logging
from common.settings import SERVICE_NAMES, PaklogSettings, ServiceSettings, TemporalSettings
from paklog import audit_cli, client_cli, erp_cli, errors_cli, floor_cli, stock_cli
from paklog.exits import exit_after_temporal as _exit_after_temporal

app = typer.Typer(help="PakLog: order-to-delivery operations on Temporal.", no_args_is_help=True)
order_app = typer.Typer(help="Place, inspect and cancel orders through the gateway.", no_args_is_help=True)
app.add_typer(order_app, name="order")
app.add_typer(floor_cli.wave_app, name="wave")
app.add_typer(floor_cli.pick_app, name="pick")
app.add_typer(floor_cli.check_app, name="check")
app.add_typer(erp_cli.erp_app, name="erp")
app.add_typer(stock_cli.stock_app, name="stock")
app.add_typer(audit_cli.audit_app, name="audit")
app.add_typer(client_cli.client_app, name="client")
app.command("errors")(errors_cli.errors)
console = Console()


def _logging(process: str) -> None:
    configure_process_logging(PaklogSettings(), process)


@app.command()
def dev() -> None:
    """Run the whole platform on embedded defaults until Ctrl-C."""
    from paklog.dev import run_dev

    raise typer.Exit(run_dev())


@app.command()
def worker() -> None:
    """Run the Temporal worker (all workflows and activities)."""
    from paklog.worker import get_worker_settings, run_worker

    _logging("worker")
    asyncio.run(run_worker(get_worker_settings()))
    _exit_after_temporal(0)


@app.command()
def gateway(
    host: Annotated[str | None, typer.Option(help="Listen address")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port")] = None,
) -> None:
    """Run the gateway (the /api door) with uvicorn."""
    from gateway.settings import get_settings

    settings = get_settings()
    configure_process_logging(settings, "gateway")
    uvicorn.run(
        "gateway.app:create_app_from_env",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=SERVER_KEEPALIVE_SECONDS,
    )
    _exit_after_temporal(0)


@app.command()
def service(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(SERVICE_NAMES)}")],
    host: Annotated[str | None, typer.Option(help="Listen address")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port")] = None,
) -> None:
    """Run one domain service with uvicorn."""
    if name not in SERVICE_NAMES:
        raise typer.BadParameter(f"unknown service {name!r}; choose from {', '.join(SERVICE_NAMES)}")
    # The same cached settings the app factory uses, so a bad value fails here, before uvicorn starts.
    settings: ServiceSettings = importlib.import_module(f"services.{name}.settings").get_settings()
    configure_process_logging(settings, name)
    uvicorn.run(
        f"services.{name}.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=SERVER_KEEPALIVE_SECONDS,
    )


@app.command()
def migrate(
    services: Annotated[
        list[str] | None, typer.Argument(help="Services (or `gateway`) to migrate (default: all, and the gateway)")
    ] = None,
) -> None:
    """Create each service's database (and the gateway's) if needed and migrate it to the newest revision.

    The audit database's runtime role (``paklog_audit_writer``: insert and read only) gets its login and
    password here too, so this runs as a role that may create roles (docs/audit.md).
    """
    from common import migrations
    from common.db import ensure_database
    from gateway.settings import GATEWAY_DATABASE, GatewaySettings
    from services.audit.roles import provision_writer
    from services.audit.settings import AuditWriterCredential

    chosen = services or [*SERVICE_NAMES, migrations.GATEWAY]
    for name in chosen:
        if name == migrations.GATEWAY:
            gateway_settings = GatewaySettings()
            url = gateway_settings.resolved_database_url()
            if not gateway_settings.gateway_database_url:
                asyncio.run(ensure_database(gateway_settings.postgres_url, GATEWAY_DATABASE))
        else:
            settings = ServiceSettings(service=name)
            url = settings.resolved_database_url()
            if not settings.database_url:
                asyncio.run(ensure_database(settings.postgres_url, f"paklog_{name}"))
        migrations.upgrade(name, url)
        if name == "audit":
            asyncio.run(provision_writer(url, AuditWriterCredential().resolved_writer_password()))
        console.print(f"migrated [bold]{name}[/bold]")


@app.command()
def seed() -> None:
    """Create the demo users, the ERP's OAuth2 client and the catalogue where missing."""
    from common.partners import ErpClientCredential
    from paklog.seed import seed_all

    secret = ErpClientCredential().resolved_erp_client_secret()
    created = asyncio.run(seed_all(ServiceSettings().postgres_url, erp_client_secret=secret))
    for name, count in created.items():
        console.print(f"{name}: {count} created")


@app.command()
def replay(
    history_files: Annotated[
        list[Path] | None, typer.Argument(help="History JSON files (temporal workflow show --output json)")
    ] = None,
    workflow_id: Annotated[
        str | None, typer.Option("--workflow-id", "-w", help="Replay this workflow's runs from the server")
    ] = None,
) -> None:
    """Replay workflow histories against the current code; exit 1 on non-determinism."""
    from paklog.replay import replay_files, replay_workflow_id

    if not history_files and not workflow_id:
        raise typer.BadParameter("give history files or --workflow-id")
    if workflow_id is not None and not workflow_id.replace("-", "").replace("_", "").isalnum():
        raise typer.BadParameter("a workflow id has letters, digits, '-' and '_' only")
    failures = 0
    if history_files:
        failures += asyncio.run(replay_files(history_files, console))
    if workflow_id:
        failures += asyncio.run(replay_workflow_id(TemporalSettings(), workflow_id, console))
    _exit_after_temporal(1 if failures else 0)


@app.command()
def bench(
    orders: Annotated[int, typer.Option(help="Sagas (and no-op workflows) to run")] = 200,
    concurrency: Annotated[int, typer.Option(help="Workflows (and micro-benchmark requests) in flight at once")] = 20,
    micro_requests: Annotated[
        int, typer.Option(help="Requests per side in the one-service-call micro-benchmark")
    ] = 1000,
    micro_only: Annotated[bool, typer.Option(help="Run only the micro-benchmark (endpoint vs raw asyncpg)")] = False,
    floor_orders: Annotated[
        int, typer.Option(help="Orders taken from placement to DELIVERED (and as many no-op flows); 0 skips it")
    ] = 80,
    backfill: Annotated[
        bool, typer.Option(help="Import the ERP stand-in's materials from zero (ErpImport, full) and time it")
    ] = True,
    checkout_orders: Annotated[
        int, typer.Option(help="Sequential POST /api/orders?wait=accepted through the gateway, timed; 0 skips it")
    ] = 100,
) -> None:
    """Order saga vs. a no-op workflow, order-to-delivery vs. a no-op flow of the same shape, one call vs. asyncpg."""
    from paklog.bench import run_bench

    code = run_bench(
        orders=orders,
        concurrency=concurrency,
        console=console,
        micro_requests=micro_requests,
        micro_only=micro_only,
        floor_orders=floor_orders,
        backfill=backfill,
        checkout_orders=checkout_orders,
    )
    _exit_after_temporal(code)


@app.command()
def simulate(
    orders: Annotated[int | None, typer.Option(min=1, help="Place this many orders, then drive all to the end")] = None,
    rate: Annotated[float | None, typer.Option(min=0.001, help="Or place this many orders per minute ...")] = None,
    duration: Annotated[float | None, typer.Option(min=1, help="... for this many seconds")] = None,
    short_pick_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of picks confirmed short")] = 0.0,
    pack_mismatch_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of orders first packed one unit short")
    ] = 0.0,
    carrier_failure_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of label purchases each carrier fails")
    ] = 0.0,
    exception_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of journeys ending in a delivery exception")
    ] = 0.0,
    recovery_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of exceptions that are delivered after all")
    ] = 0.5,
    carrier_step: Annotated[
        float, typer.Option(min=0.05, max=3600, help="Seconds between a parcel's tracking events")
    ] = 0.5,
    ship_sla: Annotated[float, typer.Option(min=1, help="On time: shipped within this many seconds of placing")] = 300,
    timeout: Annotated[float, typer.Option(min=1, help="Give up after this many seconds in all")] = 900,
    gateway_url: Annotated[
        str | None,
        typer.Option("--gateway", help="Gateway base URL (else PAKLOG_GATEWAY_URL, else http://127.0.0.1:8000)"),
    ] = None,
    carriers_url: Annotated[
        str | None,
        typer.Option(help="Carrier stand-in base URL (else PAKLOG_CARRIERS_URL, else http://127.0.0.1:8190)"),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the random choices")] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write the run as JSON here, and its chart as .png beside it")
    ] = None,
    pickers: Annotated[int, typer.Option(min=1, help="Waves picked at once")] = 2,
    packers: Annotated[int, typer.Option(min=1, help="Orders packed at once")] = 2,
) -> None:
    """Drive the running platform through its gateway: customers, waves, picks, packs, carriers; then sum up.

    Exit 0 when every order placed ended DELIVERED or CANCELLED, 1 otherwise, 2 when it could not start or go on.
    """
    from paklog.settings import simulate_settings
    from paklog.simulate import SimulationConfig
    from paklog.simulate.command import simulate_command

    if (orders is None) == (rate is None):
        if rate is None:
            orders = 20
        else:
            raise typer.BadParameter("give --orders N or --rate R with --duration S, not both")
    if rate is not None and duration is None:
        raise typer.BadParameter("--rate needs --duration")
    if report is not None and report.suffix.lower() == ".png":
        raise typer.BadParameter("--report names the JSON file; the chart goes beside it with .png")
    _logging("simulate")
    settings = simulate_settings()
    config = SimulationConfig(
        gateway_url=gateway_url or settings.gateway_url,
        carriers_url=carriers_url or settings.carriers_url,
        service_token=settings.service_token.get_secret_value(),
        orders=orders,
        rate_per_minute=rate,
        duration_seconds=duration,
        short_pick_rate=short_pick_rate,
        pack_mismatch_rate=pack_mismatch_rate,
        carrier_failure_rate=carrier_failure_rate,
        exception_rate=exception_rate,
        recovery_rate=recovery_rate,
        carrier_step_seconds=carrier_step,
        ship_sla_seconds=ship_sla,
        timeout_seconds=timeout,
        seed=seed,
        pickers=pickers,
        packers=packers,
    )
    code = simulate_command(config, report=report, console=console)
    sys.stdout.flush()
    sys.stderr.flush()
    raise typer.Exit(code)


# -- order commands (through the gateway, as a user would) -----------------------------

GatewayOpt = Annotated[str, typer.Option(envvar="PAKLOG_GATEWAY_URL", help="Gateway base URL")]
UserOpt = Annotated[str, typer.Option("--user", "-u", help="Login name")]
PasswordOpt = Annotated[str, typer.Option("--password", "-p", help="Password")]


def _run(coro: Coroutine[Any, Any, int]) -> None:
    raise typer.Exit(asyncio.run(coro))


async def _login(http: httpx.AsyncClient, user: str, password: str) -> None:
    resp = await http.post("/api/auth/token", data={"username": user, "password": password})
    if resp.status_code != 200:
        console.print(f"[red]login failed[/red]: {resp.text}")
        raise typer.Exit(1)
    http.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"


def _show(resp: httpx.Response) -> int:
    console.print_json(json.dumps(resp.json()))
    return 0 if resp.status_code < 400 else 1


def _parse_line(spec: str) -> dict[str, Any]:
    sku, _, qty = spec.partition(":")
    try:
        return {"sku": sku.strip().upper(), "quantity": int(qty or "1")}
    except ValueError:
        raise typer.BadParameter(f"--sku takes SKU[:QTY], got {spec!r}") from None


@order_app.command("place")
def order_place(
    sku: Annotated[list[str], typer.Option("--sku", "-s", help="SKU[:QTY], repeatable")],
    card: Annotated[str, typer.Option(help="Test card: tok_visa, tok_declined, tok_flaky, tok_slow")] = "tok_visa",
    idempotency_key: Annotated[str | None, typer.Option("--idempotency-key", "-k")] = None,
    wait: Annotated[bool, typer.Option(help="Poll until the order settles")] = True,
    gateway_url: GatewayOpt = "http://127.0.0.1:8000",
    user: UserOpt = "alice",
    password: PasswordOpt = "alice-pass",
) -> None:
    """Place an order and (by default) follow it until it is accepted or cancelled."""
    body = {
        "lines": [_parse_line(s) for s in sku],
        "shipping_address": {
            "name": "Alice Customer",
            "line1": "1 Example Street",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
        "payment": {"card_token": card},
    }

    async def go() -> int:
        async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
            await _login(http, user, password)
            headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
            resp = await http.post("/api/orders", json=body, headers=headers)
            if resp.status_code != 202 or not wait:
                return _show(resp)
            order_id = resp.json()["order_id"]
            console.print(f"order [bold]{order_id}[/bold] accepted; workflow order-{order_id}")
            for _ in range(120):
                view = await http.get(f"/api/orders/{order_id}")
                if view.status_code == 200 and view.json()["status"] in ("AWAITING_WAVE", "CANCELLED", "SHIPPED"):
                    return _show(view)
                await asyncio.sleep(0.5)
            return _show(view)

    _run(go())


async def _as_user(
    gateway_url: str, user: str, password: str, method: str, path: str, body: dict[str, str] | None = None
) -> int:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60) as http:
        await _login(http, user, password)
        return _show(await http.request(method, path, json=body))


@order_app.command("status")
def order_status(
    order_id: str,
    gateway_url: GatewayOpt = "http://127.0.0.1:8000",
    user: UserOpt = "alice",
    password: PasswordOpt = "alice-pass",
) -> None:
    """Show an order with its history and payment status."""
    _run(_as_user(gateway_url, user, password, "GET", f"/api/orders/{order_id}"))


@order_app.command("cancel")
def order_cancel(
    order_id: str,
    gateway_url: GatewayOpt = "http://127.0.0.1:8000",
    user: UserOpt = "alice",
    password: PasswordOpt = "alice-pass",
    reason: Annotated[
        str | None, typer.Option(help="Operators: the cancel reason, e.g. OUT_OF_STOCK (default OPERATOR_CANCELLED)")
    ] = None,
) -> None:
    """Cancel an order; prints the compensations that ran (202: still running)."""
    body = {"reason": reason} if reason else None
    _run(_as_user(gateway_url, user, password, "POST", f"/api/orders/{order_id}/cancel", body))


app.command("pack")(floor_cli.pack)


def main() -> None:
    app()
