"""An unexpected error is cheap to log, in both formats: once, short, bounded, no local variables.

structlog's console default renders a rich traceback with every frame's
locals; one such 500 cost the orders service seconds of CPU and 700 kB of
log. These drive a real service app whose route fails deep in a call stack
holding a large local, and a record logged the way uvicorn's error logger
does it. What a logged 500 costs in CPU is measured by ``make bench``
(``paklog.bench_edges``), not asserted here.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from io import StringIO

import httpx
import pytest
import structlog
from fastapi import APIRouter

from common.logging import configure_logging
from common.service_app import create_service_app
from common.settings import ServiceSettings
from tests.support import service_credential

SECRET_LOCAL = "local-value-that-must-not-be-logged"
# One line of metadata (timestamp, level, request id ...) besides the bounded traceback.
MAX_BYTES_PER_ERROR = 8_000


def _deep(depth: int, payload: list[dict[str, str]], message: str = "the route's bug") -> None:
    secret = SECRET_LOCAL  # noqa: F841 - a local a renderer with locals would print
    if depth == 0:
        raise RuntimeError(message)
    _deep(depth - 1, payload, message)


@pytest.fixture
def log_output(request: pytest.FixtureRequest) -> Iterator[StringIO]:
    """Logging configured in the test's format, writing to a buffer; the previous set-up is restored after."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, structlog.get_config()
    buffer = StringIO()
    real_stderr, sys.stderr = sys.stderr, buffer
    try:
        configure_logging(request.param, "INFO")
    finally:
        sys.stderr = real_stderr
    try:
        yield buffer
    finally:
        root.handlers[:], level, config = saved
        root.setLevel(level)
        structlog.configure(**config)


def _failing_app() -> httpx.AsyncClient:
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        payload = [{"sku": f"SKU-{i}", "note": SECRET_LOCAL * 3} for i in range(2_000)]
        _deep(40, payload)

    settings = ServiceSettings(service="orders", environment="test")
    app = create_service_app(settings, title="t", routers=[router])
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://orders", headers=service_credential(settings)
    )


@pytest.mark.parametrize("log_output", ["console", "json"], indirect=True)
async def test_a_500_is_logged_once_and_short(log_output: StringIO) -> None:
    async with _failing_app() as http:
        assert (await http.get("/boom")).status_code == 500  # warm-up: source lines cached
        log_output.seek(0)
        log_output.truncate()
        for _ in range(10):
            resp = await http.get("/boom")
            assert resp.status_code == 500
            assert resp.json()["type"] == "InternalError"
    text = log_output.getvalue()
    assert text.count("RuntimeError: the route's bug") == 10, text[:2_000]  # once per error
    assert SECRET_LOCAL not in text
    assert len(text.encode()) / 10 < MAX_BYTES_PER_ERROR
    assert 'File \\"' in text or 'File "' in text  # a traceback (JSON escapes its quotes), innermost frames included
    assert "_deep" in text


@pytest.mark.parametrize("log_output", ["console", "json"], indirect=True)
def test_uvicorn_error_logger_renders_through_the_short_traceback(log_output: StringIO) -> None:
    payload = [{"note": SECRET_LOCAL}] * 10_000
    try:
        # A driver error's text can carry the whole statement and its parameters.
        _deep(200, payload, "the route's bug; parameters: " + "x" * 100_000)
    except RuntimeError as exc:
        logging.getLogger("uvicorn.error").error("Exception in ASGI application\n", exc_info=exc)
    text = log_output.getvalue()
    assert text.count("Exception in ASGI application") == 1
    assert "RuntimeError: the route's bug" in text
    assert "traceback cut" in text  # 200 frames do not fit: the middle goes
    assert SECRET_LOCAL not in text
    assert len(text.encode()) < MAX_BYTES_PER_ERROR


def test_the_bench_measures_a_logged_500_and_the_scan(capsys: pytest.CaptureFixture[str]) -> None:
    from paklog.bench_edges import measure_edges, print_edges

    costs = measure_edges()
    assert 0 < costs.log_bytes_per_error < MAX_BYTES_PER_ERROR  # each timed 500 really was logged
    assert min(costs.error_ms, costs.ok_ms, costs.scan_ms, costs.parse_ms) > 0
    assert costs.body_bytes > 200_000
    print_edges(costs)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] + " " + line.split()[1] for line in lines if "ratio" in line] == [
        "error ratio",
        "scan ratio",
    ]
