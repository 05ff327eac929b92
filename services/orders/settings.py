"""Orders settings: where the service listens and which database it owns."""

from __future__ import annotations

from functools import lru_cache

from common.settings import SERVICE_PORTS, ServiceSettings, port_field


class OrdersSettings(ServiceSettings):
    """The orders process (``PAKLOG_*``; its port also ``PAKLOG_ORDERS_PORT``)."""

    service: str = "orders"
    port: int = port_field("orders", SERVICE_PORTS["orders"])


@lru_cache
def get_settings() -> OrdersSettings:
    """This process's settings, built once on first use."""
    return OrdersSettings()
