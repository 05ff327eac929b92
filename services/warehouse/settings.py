"""Warehouse settings: where the service listens, which database it owns, and the carrier cutoffs."""

from __future__ import annotations

from datetime import time
from functools import lru_cache

from common.settings import SERVICE_PORTS, ServiceSettings, port_field


class WarehouseSettings(ServiceSettings):
    """The warehouse process (``PAKLOG_*``; its port also ``PAKLOG_WAREHOUSE_PORT``).

    ``express_cutoff`` / ``standard_cutoff`` (``PAKLOG_EXPRESS_CUTOFF=12:00``,
    UTC): the daily carrier cutoff of each service level; a backlog order's
    ``cutoff_at`` is the next one after it was placed.
    """

    service: str = "warehouse"
    port: int = port_field("warehouse", SERVICE_PORTS["warehouse"])
    express_cutoff: time = time(12, 0)
    standard_cutoff: time = time(16, 0)


@lru_cache
def get_settings() -> WarehouseSettings:
    """This process's settings, built once on first use."""
    return WarehouseSettings()
