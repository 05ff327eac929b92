"""One settings pattern for every process: PAKLOG_* overrides every port, nothing is read at import."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
from pydantic import ValidationError

from common.settings import SERVICE_NAMES, SERVICE_PORTS
from gateway.settings import GatewaySettings
from paklog.settings import DevSettings


@pytest.mark.parametrize("name", SERVICE_NAMES)
def test_each_service_has_its_cached_settings(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    module = importlib.import_module(f"services.{name}.settings")
    module.get_settings.cache_clear()
    monkeypatch.delenv(f"PAKLOG_{name.upper()}_PORT", raising=False)
    monkeypatch.delenv("PAKLOG_PORT", raising=False)
    try:
        settings = module.get_settings()
        assert settings is module.get_settings()
        assert (settings.service, settings.port) == (name, SERVICE_PORTS[name])
        module.get_settings.cache_clear()
        monkeypatch.setenv("PAKLOG_PORT", "9000")
        assert module.get_settings().port == 9000
        module.get_settings.cache_clear()
        monkeypatch.setenv(f"PAKLOG_{name.upper()}_PORT", "9100")
        assert module.get_settings().port == 9100
        monkeypatch.setenv("PAKLOG_HOST", "0.0.0.0")
        module.get_settings.cache_clear()
        assert module.get_settings().host == "0.0.0.0"
    finally:
        module.get_settings.cache_clear()


def test_gateway_port_and_service_addresses_are_overridable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAKLOG_GATEWAY_PORT", "9800")
    monkeypatch.setenv("PAKLOG_ORDERS_URL", "http://orders:8102")
    monkeypatch.setenv("PAKLOG_TEMPORAL_ADDRESS", "temporal:7233")
    settings = GatewaySettings()
    assert (settings.port, settings.orders_url, settings.temporal_address) == (
        9800,
        "http://orders:8102",
        "temporal:7233",
    )
    assert GatewaySettings(port=8001).port == 8001


def test_gateway_refuses_the_placeholder_secret_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAKLOG_JWT_SECRET", raising=False)
    for environment in ("test", "production"):
        with pytest.raises(ValidationError, match="PAKLOG_JWT_SECRET"):
            GatewaySettings(environment=environment)
    assert GatewaySettings(environment="test", jwt_jwks_url="http://identity:8101/.well-known/jwks.json")


def test_dev_ports_are_overridable(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "PAKLOG_POSTGRES_PORT": "6543",
        "PAKLOG_TEMPORAL_PORT": "7300",
        "PAKLOG_TEMPORAL_UI_PORT": "8300",
        "PAKLOG_GATEWAY_PORT": "8900",
        "PAKLOG_PAYMENTS_PORT": "8904",
    }.items():
        monkeypatch.setenv(key, value)
    settings = DevSettings()
    assert (settings.postgres_port, settings.temporal_port, settings.temporal_ui_port, settings.gateway_port) == (
        6543,
        7300,
        8300,
        8900,
    )
    assert settings.service_ports() == {**SERVICE_PORTS, "payments": 8904}


def test_importing_every_process_reads_no_settings() -> None:
    # A broken environment must not break an import: settings are read by get_settings(), at start-up.
    modules = [
        "gateway.app",
        "paklog.worker",
        "paklog.dev",
        "paklog.platform",
        "paklog.cli",
        *(f"services.{name}.app" for name in SERVICE_NAMES),
    ]
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\nprint('ok')"
    env = {"PAKLOG_ENVIRONMENT": "nonsense", "PAKLOG_PORT": "not-a-port", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code, *modules], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
