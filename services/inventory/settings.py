"""Inventory settings: where the service listens and which database it owns."""

from __future__ import annotations

from functools import lru_cache

from common.settings import SERVICE_PORTS, ServiceSettings, port_field


class InventorySettings(ServiceSettings):
    """The inventory process (``PAKLOG_*``; its port also ``PAKLOG_INVENTORY_PORT``)."""

    service: str = "inventory"
    port: int = port_field("inventory", SERVICE_PORTS["inventory"])


@lru_cache
def get_settings() -> InventorySettings:
    """This process's settings, built once on first use."""
    return InventorySettings()
