"""Payments settings: where the service listens, its database and the simulated processor."""

from __future__ import annotations

from functools import lru_cache

from common.settings import SERVICE_PORTS, ServiceSettings, port_field


class PaymentsSettings(ServiceSettings):
    """The payments process (``PAKLOG_*``; its port also ``PAKLOG_PAYMENTS_PORT``).

    ``slow_card_seconds``: how long ``tok_slow`` takes (``PAKLOG_SLOW_CARD_SECONDS``).
    """

    service: str = "payments"
    port: int = port_field("payments", SERVICE_PORTS["payments"])
    slow_card_seconds: float = 3.0


@lru_cache
def get_settings() -> PaymentsSettings:
    """This process's settings, built once on first use."""
    return PaymentsSettings()
