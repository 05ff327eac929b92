"""The platform hands the carrier stand-in the gateway's webhook URL (docs/tracking.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from paklog.platform import LocalPlatform, free_ports_config


def test_the_carrier_stand_in_posts_to_the_gateways_webhook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = free_ports_config(tmp_path, postgres_url="postgresql://x@127.0.0.1:1/x", temporal_address="127.0.0.1:1")
    platform = LocalPlatform(config)
    started: dict[str, list[str]] = {}

    async def no_databases() -> None:
        return None

    monkeypatch.setattr(platform, "prepare_databases", no_databases)
    monkeypatch.setattr(platform, "_spawn_raw", lambda label, argv: started.setdefault(label, argv))
    monkeypatch.setattr(platform, "_wait_healthy", lambda urls, timeout=60: None)
    platform.start()
    platform.stop()

    argv = started["carriers"]
    url = argv[argv.index("--webhook-url") + 1]
    assert url == f"http://127.0.0.1:{config.gateway_port}/api/webhooks/carriers" == platform.carrier_webhook_url
    # The gateway it names is the one the platform starts (after the stand-in: the outbox retries until then).
    labels = list(started)
    assert labels.index("carriers") < labels.index("gateway")
