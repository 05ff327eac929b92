"""Which PostgreSQL the suite runs on, and that looking for Docker costs next to nothing."""

from __future__ import annotations

import time

import pytest

from tests.pg_sources import docker_engine_problem, pick_source
from tests.support import free_port


@pytest.mark.parametrize(
    ("env", "engine_problem", "expected"),
    [
        pytest.param({"PAKLOG_TEST_POSTGRES_URL": "postgresql://u@db/x"}, None, "external", id="url-beats-docker"),
        pytest.param({"PAKLOG_TEST_POSTGRES_URL": "postgresql://u@db/x"}, "none", "external", id="url"),
        pytest.param({}, None, "testcontainers", id="docker-beats-embedded"),
        pytest.param({"PAKLOG_TEST_POSTGRES_URL": ""}, "no engine", "embedded", id="embedded-last"),
    ],
)
def test_sources_are_tried_in_the_documented_order(
    env: dict[str, str], engine_problem: str | None, expected: str
) -> None:
    assert pick_source(env, engine_problem) == expected


@pytest.mark.parametrize(
    "docker_host",
    [
        pytest.param("unix:///nonexistent/docker.sock", id="no-socket"),
        pytest.param(f"tcp://127.0.0.1:{free_port()}", id="closed-port"),
    ],
)
def test_a_missing_engine_is_reported_quickly(monkeypatch: pytest.MonkeyPatch, docker_host: str) -> None:
    monkeypatch.setenv("DOCKER_HOST", docker_host)
    started = time.monotonic()
    problem = docker_engine_problem()
    assert problem is not None
    assert "Docker engine" in problem
    assert time.monotonic() - started < 3
