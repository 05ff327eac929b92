"""Settings of the carrier stand-in: where it listens, where its SQLite file lives, where its webhooks go."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from common.settings import CARRIERS_PORT, ServiceCredential, port_field, reject_placeholder_secret
from common.webhooks import carrier_secret
from services.carriers.pricing import Carrier


def webhook_url(value: str) -> str:
    """A webhook base URL as the stand-in uses it: ``http(s)://...`` without a trailing slash.

    Raises:
        ValueError: Not an ``http://`` or ``https://`` URL.
    """
    url = value.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in {"http", "https"} or not rest:
        raise ValueError(f"not an http(s) URL: {value!r}")
    return url


class CarriersSettings(ServiceCredential):
    """The carrier stand-in (``PAKLOG_*``; its port also ``PAKLOG_CARRIERS_PORT``).

    It demands the deployment's service token like every PakLog service: it is
    reached only by the shipping service (a real TMS would take an API key).
    Its delivery events go to ``PAKLOG_CARRIER_WEBHOOK_URL`` + ``/<CARRIER>``
    (the gateway's ``.../api/webhooks/carriers``); unset, they queue in the
    outbox. ``PAKLOG_CARRIER_SECRETS`` (JSON ``{"SWIFT": "...", ...}``) sets a
    carrier's signing secret; a carrier left out signs with one derived from
    the service token (:func:`common.webhooks.carrier_secret`).
    """

    host: str = "127.0.0.1"
    port: int = port_field("carriers", CARRIERS_PORT)
    max_body_bytes: int = 64 * 1024
    carrier_webhook_url: str | None = None
    carrier_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    #: Per webhook call (connecting gets at most 5 s of it).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    #: Shipments whose events are posted at once (each shipment's own events go one after another).
    webhook_concurrency: int = Field(default=4, ge=1, le=64)

    @field_validator("carrier_webhook_url", mode="before")
    @classmethod
    def _webhook_url(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return webhook_url(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _known_carriers_and_real_secrets(self) -> CarriersSettings:
        for carrier, secret in self.carrier_secrets.items():
            if carrier not in Carrier.__members__:
                raise ValueError(f"PAKLOG_CARRIER_SECRETS names no carrier {carrier!r} (known: {', '.join(Carrier)})")
            reject_placeholder_secret(self.environment, f"PAKLOG_CARRIER_SECRETS[{carrier}]", secret.get_secret_value())
        return self

    @property
    def database_path(self) -> Path:
        """The SQLite file holding the labels sold, the journeys and the outbox."""
        return self.state_dir / "carriers.sqlite3"

    def webhook_secrets(self) -> dict[str, str]:
        """Each carrier's signing secret: configured, else derived from the service token."""
        configured = {carrier: secret.get_secret_value() for carrier, secret in self.carrier_secrets.items()}
        token = self.service_token.get_secret_value()
        return {carrier.value: carrier_secret(token, carrier.value, configured) for carrier in Carrier}


@lru_cache
def get_settings() -> CarriersSettings:
    """This process's settings, built once on first use."""
    return CarriersSettings()
