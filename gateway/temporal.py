"""Temporal client factory shared by the gateway, the worker and the CLI."""

from __future__ import annotations

import logging
from functools import lru_cache

from temporalio.client import Client
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import TLSConfig

from common.settings import TemporalSettings
from common.tracing import ClientTracing


@lru_cache
def temporal_runtime() -> Runtime:
    """One SDK runtime per process, whose core (Rust) log lines go through Python logging.

    The default runtime writes them to the console in its own format; forwarded to
    ``temporalio.core``, they are JSON lines like every other (:mod:`common.logging`).
    """
    forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    filter_ = TelemetryFilter(core_level="WARN", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=filter_, forwarding=forwarding)))


async def connect_temporal(settings: TemporalSettings) -> Client:
    """Connect to the dev server, a self-hosted cluster or Temporal Cloud.

    TLS is used when a client certificate is configured or an API key is set
    (Temporal Cloud requires TLS with API keys). Starts, signals, updates and
    queries carry the current correlation id (:class:`common.tracing.ClientTracing`).
    """
    tls: TLSConfig | bool = False
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        tls = TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
        )
    elif settings.temporal_api_key:
        tls = True
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key,
        tls=tls,
        interceptors=[ClientTracing()],
        runtime=temporal_runtime(),
    )
