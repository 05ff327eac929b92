"""``paklog dev``: the whole platform on embedded defaults, until Ctrl-C.

A child that dies is restarted with backoff (:mod:`paklog.supervisor`); the
platform stops on Ctrl-C / SIGTERM, or when one child keeps crashing.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from types import FrameType

from rich.console import Console
from rich.table import Table

from common.logging import configure_logging
from gateway.web import DEFAULT_DIST
from paklog.platform import ChildExited, LocalPlatform, PlatformConfig

DEMO_LOGINS = [
    ("alice", "alice-pass", "customer"),
    ("olivia", "olivia-pass", "operator"),
    ("admin", "admin-pass", "admin"),
]


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _without_password(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url.replace("+asyncpg", ""))


def print_banner(console: Console, platform: LocalPlatform) -> None:
    table = Table(title="PakLog is running", show_header=False, title_justify="left")
    built = (DEFAULT_DIST / "index.html").is_file() or bool(os.environ.get("PAKLOG_WEB_DIST"))
    table.add_row(
        "Web app (storefront, operator console)", f"{platform.gateway_url}/" + ("" if built else " (make web)")
    )
    table.add_row("Gateway API", f"{platform.gateway_url}/api")
    table.add_row("OpenAPI docs", f"{platform.gateway_url}/docs")
    if platform.web_ui_url:
        table.add_row("Temporal Web UI", platform.web_ui_url)
    table.add_row("Temporal", platform.temporal_address)
    table.add_row("PostgreSQL", _without_password(platform.postgres_url))
    if platform.postgres is not None:
        table.add_row("PostgreSQL password", f"in {platform.postgres.password_file}")
    for name, port in platform.config.service_ports.items():
        table.add_row(f"service {name}", f"http://127.0.0.1:{port}")
    table.add_row("carrier stand-in (simulated TMS)", platform.carriers_url)
    table.add_row("ERP stand-in (simulated SAP)", platform.erp_url)
    table.add_row("audit trail", f"{platform.gateway_url}/api/audit (operators); check: paklog audit verify")
    table.add_row("exceptions", f"paklog errors, or {platform.gateway_url}/api/admin/exceptions (operators)")
    if platform.config.quiet:
        table.add_row("logs (JSON lines)", f"{platform.logs_dir}/<process>.log")
    table.add_row("service token", f"in {platform.state_dir / 'service.token'} (header X-PakLog-Service-Token)")
    table.add_row("state folder", str(platform.state_dir))
    console.print(table)
    logins = Table(title="Demo logins", title_justify="left")
    logins.add_column("user")
    logins.add_column("password")
    logins.add_column("role")
    for row in DEMO_LOGINS:
        logins.add_row(*row)
    console.print(logins)
    console.print("Place an order:  [bold].venv/bin/paklog order place --sku MUG-RED:2[/bold]   Stop: Ctrl-C")


def print_events(console: Console, events: list[ChildExited]) -> None:
    """One readable line per supervision event (the JSON ones are in the supervisor's log)."""
    for event in events:
        if event.restart_in_seconds is None:
            console.print(f"[red]{event.label} exited ({event.exit_code}) and keeps crashing[/red]")
        else:
            console.print(
                f"[yellow]{event.label} exited ({event.exit_code})[/yellow]; "
                f"restart {event.restarts} in {event.restart_in_seconds:g} s"
            )


def run_dev(config: PlatformConfig | None = None) -> int:
    """Start everything, print where it is, and stop it all on Ctrl-C or SIGTERM.

    The children log JSON lines into ``<state dir>/logs/<child>.log`` (``PAKLOG_CHILD_LOGS=terminal``:
    on this terminal); the supervisor's own JSON lines go to ``supervisor.log`` there, and this
    terminal shows the banner and one readable line per restart.
    """
    console = Console(stderr=True)
    config = config or PlatformConfig.from_env()
    platform = LocalPlatform(config)
    platform.logs_dir.mkdir(parents=True, exist_ok=True)
    supervisor_log = (platform.logs_dir / "supervisor.log").open("a", encoding="utf-8")
    configure_logging("json", stream=supervisor_log)  # the supervisor's restart events
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    code = 0
    try:
        console.print("[bold]Starting PakLog[/bold] (PostgreSQL, Temporal, services, worker, gateway)...")
        platform.start()
        print_banner(console, platform)
        # The wait returns every second so that Ctrl-C / SIGTERM are handled promptly.
        shown = 0
        while (failure := platform.wait_for_failure(1.0)) is None:
            print_events(console, platform.events[shown:])
            shown = len(platform.events)
        console.print(f"[red]stopping PakLog:[/red] {failure}")
        code = 1
    except _Stop as stop:
        console.print(f"\n{stop}: stopping PakLog...")
    except RuntimeError as exc:
        console.print(f"[red]PakLog could not start:[/red] {exc}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        platform.stop()
        console.print("PakLog stopped; state kept in", str(platform.state_dir))
        configure_logging("json")  # off the file before it closes
        supervisor_log.close()
    sys.stdout.flush()
    return code
