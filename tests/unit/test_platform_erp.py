"""The platform starts the ERP stand-in after PostgreSQL, beside the carrier stand-in, and tells the children where."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from paklog.platform import LocalPlatform, PlatformConfig, free_ports_config
from paklog.settings import DevSettings


def test_the_erp_stand_in_starts_before_the_services_without_a_webhook(
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

    assert started["erp"] == [sys.executable, "-m", "services.erp", "--port", str(config.erp_port)]
    # PostgreSQL is ready (databases prepared) before it starts; its events stay pending for now.
    assert steps.index("databases") < steps.index("erp") < steps.index("gateway")
    assert waited.index(f"http://127.0.0.1:{config.erp_port}/healthz") < waited.index(f"{platform.gateway_url}/healthz")
    assert platform.erp_url == f"http://127.0.0.1:{config.erp_port}"
    assert platform.child_env()["PAKLOG_ERP_URL"] == platform.erp_url


def test_the_erp_port_is_a_dev_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAKLOG_ERP_PORT", "9195")
    assert PlatformConfig.from_settings(DevSettings()).erp_port == 9195
    assert PlatformConfig().erp_port == 8195
