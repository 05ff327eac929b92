"""Shipping settings: where the service listens, its database, the carrier TMS and the breakers."""

from __future__ import annotations

from functools import lru_cache

from common.settings import CARRIERS_PORT, SERVICE_PORTS, ServiceSettings, port_field


class ShippingSettings(ServiceSettings):
    """The shipping process (``PAKLOG_*``; its port also ``PAKLOG_SHIPPING_PORT``).

    * ``carriers_url`` (``PAKLOG_CARRIERS_URL``): the TMS (the carrier stand-in in development).
    * ``carriers``: the carriers rate-shopped, in the order ties are broken.
    * ``carrier_timeout_seconds``, ``carrier_attempts``, ``carrier_backoff_seconds``: one outside
      call's timeout, and how often (with a doubling pause) it is tried before the carrier counts as failed.
    * ``carrier_breaker_threshold`` (``PAKLOG_CARRIER_BREAKER_THRESHOLD``): consecutive failed calls
      that open a carrier's breaker; ``carrier_breaker_reset_seconds``: how long it stays open before
      one call probes it (half-open).
    * ``label_sender_*``: the sender printed on labels.
    """

    service: str = "shipping"
    port: int = port_field("shipping", SERVICE_PORTS["shipping"])
    carriers_url: str = f"http://127.0.0.1:{CARRIERS_PORT}"
    carriers: tuple[str, ...] = ("SWIFT", "PARCELNET")
    carrier_timeout_seconds: float = 3.0
    carrier_attempts: int = 2
    carrier_backoff_seconds: float = 0.1
    carrier_breaker_threshold: int = 3
    carrier_breaker_reset_seconds: float = 15.0
    label_sender_name: str = "PakLog Fulfilment Centre"
    label_sender_line1: str = "Lagerstrasse 1"
    label_sender_city: str = "Hamburg"
    label_sender_postal_code: str = "20457"
    label_sender_country: str = "DE"


@lru_cache
def get_settings() -> ShippingSettings:
    """This process's settings, built once on first use."""
    return ShippingSettings()
