"""Temporal client factory shared by the gateway, the worker and the CLI."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.service import TLSConfig

from common.settings import TemporalSettings
from common.tracing import ClientTracing


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
    )
