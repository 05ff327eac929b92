"""The platform starts the ERP stand-in after PostgreSQL, beside the carrier stand-in, tells the children where,
and hands it the gateway's partner webhook, token endpoint and its client's secret."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from common.partners import erp_client_secret
from paklog.platform import LocalPlatform, PlatformConfig, free_ports_config
from paklog.settings import DevSettings


def test_the_erp_stand_in_starts_before_the_services_and_posts_to_the_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = free_ports_config(tmp_path, postgres_url="postgresql://x@127.0.0.1:1/x", temporal_address="127.0.0.1:1")
    platform = LocalPlatform(config)
    steps: list[str] = []
    started: dict[str, list[str]] = {}
    waited: list[str] = []

    async def no_databases() -> None:
        steps.append("databases")

    def spawn(label: str, argv: list[str]) -> None:
        steps.append(label)
        started[label] = argv

    monkeypatch.setattr(platform, "prepare_databases", no_databases)
    monkeypatch.setattr(platform, "_spawn_raw", spawn)
    monkeypatch.setattr(platform, "_wait_healthy", lambda urls, timeout=60: waited.extend(urls))
    platform.start()
    platform.stop()

    assert started["erp"] == [
        sys.executable,
        "-m",
        "services.erp",
        "--port",
        str(config.erp_port),
        "--webhook-url",
        f"{platform.gateway_url}/api/webhooks/erp",
        "--token-url",
        f"{platform.gateway_url}/api/auth/token",
        "--client-id",
        "erp",
    ]
    # The secret travels in the environment, never on the command line; derived from the service token.
    assert platform.erp_client_secret not in " ".join(started["erp"])
    assert platform.child_env()["PAKLOG_ERP_CLIENT_SECRET"] == erp_client_secret(platform.service_token, None)
    # PostgreSQL is ready (databases prepared) before it starts; the gateway comes after it (its outbox waits).
    assert steps.index("databases") < steps.index("erp") < steps.index("gateway")
    assert waited.index(f"http://127.0.0.1:{config.erp_port}/healthz") < waited.index(f"{platform.gateway_url}/healthz")
    assert platform.erp_url == f"http://127.0.0.1:{config.erp_port}"
    assert platform.child_env()["PAKLOG_ERP_URL"] == platform.erp_url


def test_the_erp_port_is_a_dev_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAKLOG_ERP_PORT", "9195")
    assert PlatformConfig.from_settings(DevSettings()).erp_port == 9195
    assert PlatformConfig().erp_port == 8195


def test_a_configured_client_secret_wins(tmp_path: Path) -> None:
    extra = {"PAKLOG_ERP_CLIENT_SECRET": "a-configured-client-secret-of-enough-length"}
    config = free_ports_config(tmp_path, postgres_url="postgresql://x@127.0.0.1:1/x", extra_env=extra)
    platform = LocalPlatform(config)
    assert platform.erp_client_secret == "a-configured-client-secret-of-enough-length"
    assert platform.child_env()["PAKLOG_ERP_CLIENT_SECRET"] == platform.erp_client_secret
