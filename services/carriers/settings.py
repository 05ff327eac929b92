"""Settings of the carrier stand-in: where it listens and where its SQLite file lives."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from common.settings import CARRIERS_PORT, ServiceCredential, port_field


class CarriersSettings(ServiceCredential):
    """The carrier stand-in (``PAKLOG_*``; its port also ``PAKLOG_CARRIERS_PORT``).

    It demands the deployment's service token like every PakLog service: it is
    reached only by the shipping service (a real TMS would take an API key).
    """

    host: str = "127.0.0.1"
    port: int = port_field("carriers", CARRIERS_PORT)
    max_body_bytes: int = 64 * 1024

    @property
    def database_path(self) -> Path:
        """The SQLite file holding the labels sold."""
        return self.state_dir / "carriers.sqlite3"


@lru_cache
def get_settings() -> CarriersSettings:
    """This process's settings, built once on first use."""
    return CarriersSettings()
