"""``paklog dev``: the whole platform on embedded defaults, until Ctrl-C."""

from __future__ import annotations

import signal
import sys
import time
from types import FrameType

from rich.console import Console
from rich.table import Table

from paklog.platform import LocalPlatform, PlatformConfig

DEMO_LOGINS = [
    ("alice", "alice-pass", "customer"),
    ("olivia", "olivia-pass", "operator"),
    ("admin", "admin-pass", "admin"),
]


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def print_banner(console: Console, platform: LocalPlatform) -> None:
    table = Table(title="PakLog is running", show_header=False, title_justify="left")
    table.add_row("Gateway API", f"{platform.gateway_url}/api")
    table.add_row("OpenAPI docs", f"{platform.gateway_url}/docs")
    if platform.web_ui_url:
        table.add_row("Temporal Web UI", platform.web_ui_url)
    table.add_row("Temporal", platform.temporal_address)
    table.add_row("PostgreSQL", platform.postgres_url.replace("+asyncpg", ""))
    for name, port in platform.config.service_ports.items():
        table.add_row(f"service {name}", f"http://127.0.0.1:{port}/docs")
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


def run_dev(config: PlatformConfig | None = None) -> int:
    """Start everything, print where it is, and stop it all on Ctrl-C or SIGTERM."""
    console = Console(stderr=True)
    platform = LocalPlatform(config or PlatformConfig.from_env())
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    code = 0
    try:
        console.print("[bold]Starting PakLog[/bold] (PostgreSQL, Temporal, services, worker, gateway)...")
        platform.start()
        print_banner(console, platform)
        while True:
            dead = platform.dead_children()
            if dead:
                console.print(f"[red]stopped unexpectedly:[/red] {', '.join(dead)}")
                code = 1
                break
            time.sleep(1)
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
    sys.stdout.flush()
    return code
