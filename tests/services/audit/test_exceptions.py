"""The central exception log: the audit service's ``/exceptions`` and the shipping handler of every process.

The audit service runs under uvicorn on a real port, as its writer role (insert
and read only), because the shipper is a synchronous client in a thread of its
own, as in every process.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import structlog
import uvicorn
from fastapi import FastAPI

from common.correlation import remember_run
from common.errors import install_error_handlers
from common.exception_log import ExceptionShipper
from common.logging import configure_logging, get_logger
from common.middleware import RequestContextMiddleware
from common.settings import ServiceSettings
from services.audit.app import create_app
from tests.services.audit.conftest import AuditDb
from tests.support import free_port, service_credential

PLAIN_500 = {"type": "InternalError", "detail": "unexpected error; quote the X-Request-ID when reporting it"}


@contextmanager
def audit_server(database_url: str, port: int) -> Iterator[str]:
    """The audit service on ``port`` (its lifespan included), until the block ends."""
    settings = ServiceSettings(service="audit", database_url=database_url, environment="test", db_pool_size=2)
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def shipping(url: str, process: str, **options: Any) -> Iterator[ExceptionShipper]:
    """This process's logging with a shipper to ``url`` (as configure_process_logging installs it)."""
    shipper = ExceptionShipper(
        f"{url}/exceptions",
        ServiceSettings().service_token.get_secret_value(),
        process,
        interval_seconds=0.05,
        retry_max_seconds=0.2,
        **options,
    )
    configure_logging("json", "INFO", shipper=shipper)
    try:
        yield shipper
    finally:
        configure_logging("json", "INFO")  # closes the shipper


def stored(url: str, **params: Any) -> list[dict[str, Any]]:
    """Every row of the log matching ``params``, newest first, walking the pages."""
    rows: list[dict[str, Any]] = []
    cursor = None
    with httpx.Client(base_url=url, headers=service_credential(), timeout=10) as http:
        while True:
            resp = http.get("/exceptions", params={**params, "limit": 200, **({"cursor": cursor} if cursor else {})})
            assert resp.status_code == 200, resp.text
            page = resp.json()
            rows += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return rows


def crashing_app() -> FastAPI:
    """A service-like app (request ids, error handlers) whose one route is a bug."""
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    return app


@pytest.fixture
def audit_url(audit_db: AuditDb) -> Iterator[str]:
    with audit_server(audit_db.writer_url, free_port()) as url:
        yield url


async def test_a_500_is_plain_and_its_exception_is_in_the_log(audit_url: str) -> None:
    process = f"app-{uuid.uuid4().hex[:8]}"
    request_id = uuid.uuid4().hex
    with shipping(audit_url, process) as shipper:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=crashing_app(), raise_app_exceptions=False), base_url="http://app"
        ) as http:
            resp = await http.get("/boom", headers={"X-Request-ID": request_id})
        assert shipper.flush(20)
    assert resp.status_code == 500
    assert resp.json() == PLAIN_500
    assert "hunter2" not in resp.text
    assert "RuntimeError" not in resp.text
    assert resp.headers["X-Request-ID"] == request_id
    [row] = stored(audit_url, request_id=request_id)
    assert row["service"] == process
    assert row["type"] == "builtins.RuntimeError"
    assert row["level"] == "ERROR"
    assert row["logger"] == "paklog.http"
    assert row["count"] == 1
    assert "secret internals" in row["message"]
    assert "in boom" in row["stack"]
    assert 'raise RuntimeError("secret internals' in row["stack"]
    assert row["pid"] > 0
    assert row["host"]
    assert stored(audit_url, service=process) == [row]


def test_records_wait_while_the_log_is_down_and_arrive_after(audit_db: AuditDb) -> None:
    port = free_port()
    process = f"down-{uuid.uuid4().hex[:8]}"
    log = get_logger("tests.outage")
    request_ids = [uuid.uuid4().hex for _ in range(3)]
    with shipping(f"http://127.0.0.1:{port}", process) as shipper:
        for request_id in request_ids:
            with structlog.contextvars.bound_contextvars(request_id=request_id):
                try:
                    raise KeyError("missing")
                except KeyError as exc:
                    log.error("lookup failed", exc_info=exc)
        assert not shipper.flush(0.5)  # nobody listens on the port: nothing is lost, nothing shipped
        with audit_server(audit_db.writer_url, port) as url:
            assert shipper.flush(30)
            rows = stored(url, service=process)
    assert sorted(row["request_id"] for row in rows) == sorted(request_ids)
    assert {row["type"] for row in rows} == {"builtins.KeyError"}
    assert shipper.dropped == 0


def test_a_storm_of_identical_errors_costs_a_few_rows_with_counts(audit_url: str) -> None:
    process = f"storm-{uuid.uuid4().hex[:8]}"
    log = get_logger("tests.storm")
    with shipping(audit_url, process, burst=5) as shipper:
        for i in range(1000):
            with structlog.contextvars.bound_contextvars(request_id=f"storm-{i}"):
                try:
                    raise ValueError(f"bad value {i}")
                except ValueError as exc:
                    log.error("storm", exc_info=exc)
        assert shipper.flush(30)
    rows = stored(audit_url, service=process)
    assert len(rows) == 6  # the first five one by one, the other 995 as one row
    assert sum(row["count"] for row in rows) == 1000
    assert len({row["fingerprint"] for row in rows}) == 1
    summary = max(rows, key=lambda row: row["count"])
    assert summary["count"] == 995
    assert summary["request_id"] == "storm-999"  # the latest of those counted
    assert "raise ValueError" in summary["stack"]


def test_only_exceptions_worth_the_log_are_shipped(audit_url: str) -> None:
    process = f"filter-{uuid.uuid4().hex[:8]}"
    log = get_logger("tests.filter")
    remember_run("run-1", "rid-of-the-run")
    with shipping(audit_url, process) as shipper:
        log.warning("just a warning")
        log.error("an error without a stack")
        try:
            raise LookupError("business as usual")
        except LookupError:
            log.warning("handled", exc_info=True)  # below ERROR
        with structlog.contextvars.bound_contextvars(request_id="exlog-123"):
            try:
                raise OSError("while storing exceptions")
            except OSError:
                log.exception("the exception log itself failed")  # not fed back into the log
        # The Temporal SDK's workflow task failure: a WARNING with its identifier and workflow details.
        try:
            raise RuntimeError("nondeterminism in workflow code")
        except RuntimeError:
            logging.getLogger("temporalio.worker._workflow_instance").warning(
                "Failed activation on workflow OrderFulfillment",
                exc_info=True,
                extra={
                    "temporal_workflow": {"workflow_id": "order-42", "run_id": "run-1"},
                    "__temporal_error_identifier": "WorkflowTaskFailure",
                },
            )
        assert shipper.flush(20)
    [row] = stored(audit_url, service=process)
    assert row["type"] == "builtins.RuntimeError"
    assert row["level"] == "WARNING"
    assert row["workflow_id"] == "order-42"
    assert row["request_id"] == "rid-of-the-run"
    assert row["logger"] == "temporalio.worker._workflow_instance"


# -- the service's API -----------------------------------------------------------------------------------


def exception(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(),
        "service": "orders",
        "host": "h1",
        "pid": 42,
        "logger": "paklog.http",
        "level": "ERROR",
        "type": "builtins.RuntimeError",
        "message": "unhandled error: boom",
        "stack": "Traceback ...",
        "request_id": uuid.uuid4().hex,
        "workflow_id": None,
        "activity": None,
        "fingerprint": "ab" * 16,
        "count": 1,
    }
    record.update(overrides)
    return record


async def test_post_and_filter_and_page(client: httpx.AsyncClient) -> None:
    service = f"svc-{uuid.uuid4().hex[:6]}"
    old = datetime.now(UTC) - timedelta(hours=2)
    items = [exception(service=service, message=f"m{i}") for i in range(5)]
    items.append(exception(service=service, type="builtins.KeyError", at=old.isoformat(), count=7))
    resp = await client.post("/exceptions", json={"items": items})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"stored": 6}

    first = (await client.get("/exceptions", params={"service": service, "limit": 4})).json()
    assert first["total"] == 6
    assert len(first["items"]) == 4
    assert first["next_cursor"]
    second = (
        await client.get("/exceptions", params={"service": service, "limit": 4, "cursor": first["next_cursor"]})
    ).json()
    assert len(second["items"]) == 2
    assert second["next_cursor"] is None
    ids = [row["id"] for row in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 6

    keys = (await client.get("/exceptions", params={"service": service, "type": "builtins.KeyError"})).json()
    assert [(row["count"], row["type"]) for row in keys["items"]] == [(7, "builtins.KeyError")]
    recent = (
        await client.get("/exceptions", params={"service": service, "since": (old + timedelta(hours=1)).isoformat()})
    ).json()
    assert recent["total"] == 5
    earlier = (
        await client.get("/exceptions", params={"service": service, "until": (old + timedelta(hours=1)).isoformat()})
    ).json()
    assert earlier["total"] == 1
    one = (await client.get("/exceptions", params={"request_id": items[0]["request_id"]})).json()
    assert [row["message"] for row in one["items"]] == ["m0"]


@pytest.mark.parametrize(
    "body",
    [
        {"items": []},
        {"items": [exception(count=0)]},
        {"items": [exception(fingerprint="not hex")]},
        {"items": [exception(message="x" * 2001)]},
        {"items": [exception(at="2026-01-01T00:00:00")]},  # no zone
        {"items": [exception(unknown="field")]},
        {"items": [exception()] * 501},
    ],
    ids=["empty", "count0", "fingerprint", "long-message", "naive-time", "extra-field", "too-many"],
)
async def test_bad_batches_are_422_and_store_nothing(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    service = f"bad-{uuid.uuid4().hex[:6]}"
    for item in body["items"]:
        item["service"] = service
    resp = await client.post("/exceptions", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["type"] == "ValidationError"
    assert (await client.get("/exceptions", params={"service": service})).json()["total"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": "ZXhjZXB0aW9uczowAA"},
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"limit": 0},
    ],
    ids=["cursor", "cursor-zero", "since-after-until", "limit"],
)
async def test_bad_queries_are_422(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    resp = await client.get("/exceptions", params=params)
    assert resp.status_code == 422, resp.text
    assert set(resp.json()) >= {"type", "detail"}


async def test_the_log_is_behind_the_service_token(client: httpx.AsyncClient) -> None:
    resp = await client.get("/exceptions", headers={"X-PakLog-Service-Token": "wrong"})
    assert resp.status_code == 401


def test_paklog_errors_shows_the_log(audit_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from paklog.cli import app

    process = f"cli-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=audit_url, headers=service_credential(), timeout=10) as http:
        resp = http.post("/exceptions", json={"items": [exception(service=process, request_id="rid-for-the-cli")]})
        assert resp.status_code == 200
    monkeypatch.setenv("PAKLOG_AUDIT_URL", audit_url)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    shown = runner.invoke(app, ["errors", "--service", process, "--since", "1h", "--stack"])
    assert shown.exit_code == 0, shown.output
    assert "rid-for-the-cli" in shown.output
    assert "RuntimeError" in shown.output
    assert "Traceback ..." in shown.output
    other = runner.invoke(app, ["errors", "--request-id", "nobody-has-this"])
    assert other.exit_code == 0
    assert "rid-for-the-cli" not in other.output
    assert runner.invoke(app, ["errors", "--since", "yesterday"]).exit_code == 2
    monkeypatch.setenv("PAKLOG_AUDIT_URL", f"http://127.0.0.1:{free_port()}")
    assert runner.invoke(app, ["errors"]).exit_code == 2
