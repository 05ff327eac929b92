"""Settings of the processes the ``paklog`` command runs itself: the worker and ``paklog dev``.

Like every PakLog process, each is one pydantic-settings class read from
``PAKLOG_*`` by a cached getter at start-up, never at import time.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from common.settings import (
    CARRIERS_PORT,
    ERP_PORT,
    SERVICE_PORTS,
    PaklogSettings,
    ServiceCredential,
    ServiceUrls,
    TemporalSettings,
)


class WorkerSettings(TemporalSettings, ServiceUrls):
    """The worker: where Temporal and the services are, and how much to run at once."""

    max_concurrent_activities: int = 200
    max_concurrent_workflow_tasks: int = 100
    graceful_shutdown_seconds: float = 20.0
    #: The ``wave-planner`` Schedule's interval (0: no schedule is created; an existing one is left alone).
    wave_interval_seconds: float = Field(default=120.0, ge=0)
    #: The ERP the master-data import reads (``PAKLOG_ERP_URL``; the stand-in ``services/erp`` by default).
    erp_url: str = "http://127.0.0.1:8195"
    #: The ``erp-sync`` Schedule's interval (0: no schedule is created; an existing one is left alone).
    erp_sync_interval_seconds: float = Field(default=300.0, ge=0)


@lru_cache
def get_worker_settings() -> WorkerSettings:
    """The worker process's settings, built once on first use."""
    return WorkerSettings()


def erp_cli_settings() -> WorkerSettings:
    """``paklog erp``: the worker's view (Temporal, the services, the ERP), with ``paklog dev``'s saved token."""
    saved = saved_service_token(PaklogSettings().state_dir)
    return WorkerSettings(service_token=saved) if saved is not None else WorkerSettings()


class DevSettings(PaklogSettings):
    """``paklog dev``: where each child listens, and how crashed children are restarted.

    ``PAKLOG_POSTGRES_URL`` / ``PAKLOG_TEMPORAL_ADDRESS`` use an existing
    server instead of starting one. Every port has its own variable
    (``PAKLOG_POSTGRES_PORT``, ``PAKLOG_TEMPORAL_PORT``,
    ``PAKLOG_TEMPORAL_UI_PORT``, ``PAKLOG_GATEWAY_PORT``, ``PAKLOG_<SERVICE>_PORT``, and the
    stand-ins' ``PAKLOG_CARRIERS_PORT`` and ``PAKLOG_ERP_PORT``).
    A child that dies is restarted after ``restart_backoff_seconds``, doubling
    up to ``restart_backoff_max_seconds``; ``restart_max_crashes`` crashes of one
    child within ``restart_window_seconds`` stop the platform.
    """

    postgres_url: str | None = None
    postgres_port: int = 5433
    temporal_address: str | None = None
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    gateway_port: int = 8000
    identity_port: int = SERVICE_PORTS["identity"]
    orders_port: int = SERVICE_PORTS["orders"]
    inventory_port: int = SERVICE_PORTS["inventory"]
    payments_port: int = SERVICE_PORTS["payments"]
    notifications_port: int = SERVICE_PORTS["notifications"]
    warehouse_port: int = SERVICE_PORTS["warehouse"]
    shipping_port: int = SERVICE_PORTS["shipping"]
    audit_port: int = SERVICE_PORTS["audit"]
    carriers_port: int = CARRIERS_PORT
    erp_port: int = ERP_PORT
    task_queue: str = "paklog"
    restart_backoff_seconds: float = Field(default=1.0, gt=0)
    restart_backoff_max_seconds: float = Field(default=30.0, gt=0)
    restart_max_crashes: int = Field(default=5, ge=1)
    restart_window_seconds: float = Field(default=60.0, gt=0)
    #: Where the children's JSON log lines go: one file each under ``<state dir>/logs`` (the terminal
    #: keeps the supervisor's readable lines), or ``terminal`` (interleaved JSON, as before).
    child_logs: Literal["files", "terminal"] = "files"

    def service_ports(self) -> dict[str, int]:
        """Port of each domain service, by name."""
        return {name: getattr(self, f"{name}_port") for name in SERVICE_PORTS}


@lru_cache
def get_dev_settings() -> DevSettings:
    """``paklog dev``'s settings, built once on first use."""
    return DevSettings()


def saved_service_token(state_dir: Path) -> SecretStr | None:
    """The service token ``paklog dev`` generated into its state folder, unless ``PAKLOG_SERVICE_TOKEN`` is set.

    Commands run beside the platform (``paklog check stock``, ``paklog simulate``)
    use it in place of the settings' own.
    """
    saved = state_dir / "service.token"
    if not os.environ.get("PAKLOG_SERVICE_TOKEN") and saved.is_file():
        return SecretStr(saved.read_text().strip())
    return None


class SimulateSettings(ServiceCredential):
    """``paklog simulate``: where the gateway and the carrier stand-in are (``--gateway``/``--carriers-url`` win).

    Build it with :func:`simulate_settings`, which takes the saved service token into account.
    """

    gateway_url: str = "http://127.0.0.1:8000"
    carriers_url: str = f"http://127.0.0.1:{CARRIERS_PORT}"


def simulate_settings() -> SimulateSettings:
    """``paklog simulate``'s settings, with ``paklog dev``'s saved service token when no other is given."""
    saved = saved_service_token(PaklogSettings().state_dir)
    return SimulateSettings(service_token=saved) if saved is not None else SimulateSettings()
