"""Settings of the processes the ``paklog`` command runs itself: the worker and ``paklog dev``.

Like every PakLog process, each is one pydantic-settings class read from
``PAKLOG_*`` by a cached getter at start-up, never at import time.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from common.settings import CARRIERS_PORT, SERVICE_PORTS, PaklogSettings, ServiceUrls, TemporalSettings


class WorkerSettings(TemporalSettings, ServiceUrls):
    """The worker: where Temporal and the services are, and how much to run at once."""

    max_concurrent_activities: int = 200
    max_concurrent_workflow_tasks: int = 100
    graceful_shutdown_seconds: float = 20.0
    #: The ``wave-planner`` Schedule's interval (0: no schedule is created; an existing one is left alone).
    wave_interval_seconds: float = Field(default=120.0, ge=0)


@lru_cache
def get_worker_settings() -> WorkerSettings:
    """The worker process's settings, built once on first use."""
    return WorkerSettings()


class DevSettings(PaklogSettings):
    """``paklog dev``: where each child listens, and how crashed children are restarted.

    ``PAKLOG_POSTGRES_URL`` / ``PAKLOG_TEMPORAL_ADDRESS`` use an existing
    server instead of starting one. Every port has its own variable
    (``PAKLOG_POSTGRES_PORT``, ``PAKLOG_TEMPORAL_PORT``,
    ``PAKLOG_TEMPORAL_UI_PORT``, ``PAKLOG_GATEWAY_PORT``, ``PAKLOG_<SERVICE>_PORT``).
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
    carriers_port: int = CARRIERS_PORT
    task_queue: str = "paklog"
    restart_backoff_seconds: float = Field(default=1.0, gt=0)
    restart_backoff_max_seconds: float = Field(default=30.0, gt=0)
    restart_max_crashes: int = Field(default=5, ge=1)
    restart_window_seconds: float = Field(default=60.0, gt=0)

    def service_ports(self) -> dict[str, int]:
        """Port of each domain service, by name."""
        return {name: getattr(self, f"{name}_port") for name in SERVICE_PORTS}


@lru_cache
def get_dev_settings() -> DevSettings:
    """``paklog dev``'s settings, built once on first use."""
    return DevSettings()
