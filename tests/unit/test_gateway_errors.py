"""The gateway's error rendering and OpenAPI document, without the platform."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from common.errors import BadGateway, Unavailable, install_error_handlers
from common.middleware import BodyLimitMiddleware, RequestContextMiddleware
from common.settings import ServiceUrls
from gateway.app import create_app
from gateway.clients import ServiceClients
from gateway.settings import GatewaySettings
from paklog.platform import free_port
from workflows.order_fulfillment import OrderStatus


async def _serve(answer: bytes) -> AsyncIterator[str]:
    """A real HTTP peer on loopback that answers every request with ``answer`` (raw bytes)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


def _raw(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


@pytest.mark.parametrize(
    "answer",
    [
        _raw("200 OK", "text/html", b"<html>gateway timeout page</html>"),
        _raw("200 OK", "application/json", b'{"sku": 1}'),
        _raw("200 OK", "application/json", b"\xff\xfe not utf-8"),
        _raw("500 Internal Server Error", "text/plain", b"Internal Server Error"),
        _raw("400 Bad Request", "text/plain", b"nope"),
    ],
)
async def test_an_upstream_answering_garbage_is_bad_gateway(answer: bytes) -> None:
    async for url in _serve(answer):
        async with httpx.AsyncClient(timeout=5) as http:
            clients = ServiceClients(http, ServiceUrls(inventory_url=url))
            with pytest.raises(BadGateway) as caught:
                await clients.product("MUG-RED")
    assert caught.value.status_code == 502
    assert caught.value.body()["type"] == "BadGateway"


async def test_an_unreachable_upstream_is_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with httpx.AsyncClient(timeout=5) as http:
        with pytest.raises(Unavailable) as caught:
            await ServiceClients(http, ServiceUrls(inventory_url=url)).products(10, 0)
    assert (caught.value.status_code, caught.value.type) == (503, "ServiceUnavailable")


async def test_an_unexpected_exception_is_a_plain_internal_error() -> None:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=1024)
    app.add_middleware(RequestContextMiddleware)

    @app.get("/boom")
    async def boom() -> None:
        secret = "do-not-leak"
        raise RuntimeError(f"bug holding {secret}")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        resp = await http.get("/boom", headers={"X-Request-ID": "req-1"})
    assert resp.status_code == 500
    assert resp.json()["type"] == "InternalError"
    assert "do-not-leak" not in resp.text
    assert resp.headers["x-request-id"] == "req-1"


async def test_body_limit_reads_a_chunked_body_up_front() -> None:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=100)

    @app.post("/echo")
    async def echo(body: dict[str, str]) -> dict[str, str]:
        return body

    async def chunks(total: int) -> AsyncIterator[bytes]:
        yield b'{"a": "'
        for _ in range(total // 10):
            yield b"x" * 10
        yield b'"}'

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        big = await http.post("/echo", content=chunks(200), headers={"Content-Type": "application/json"})
        small = await http.post("/echo", content=chunks(50), headers={"Content-Type": "application/json"})
    assert (big.status_code, big.json()["type"]) == (413, "PayloadTooLarge")
    assert small.status_code == 200
    assert small.json() == {"a": "x" * 50}


def _document() -> dict[str, object]:
    return create_app(GatewaySettings()).openapi()


def test_every_422_in_the_document_is_our_error_body() -> None:
    doc = _document()
    schemas = doc["components"]["schemas"]  # type: ignore[index]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ErrorBody"]["required"]) == {"type", "detail"}
    count = 0
    for item in doc["paths"].values():  # type: ignore[attr-defined]
        for operation in item.values():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    count += 1
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/ErrorBody"
                    }
    assert count > 20


def test_the_status_filter_is_the_workflow_vocabulary() -> None:
    doc = _document()
    status = next(p for p in doc["paths"]["/api/orders"]["get"]["parameters"] if p["name"] == "status")  # type: ignore[index]
    assert status["schema"]["anyOf"][0] == {"$ref": "#/components/schemas/OrderStatus"}
    assert doc["components"]["schemas"]["OrderStatus"]["enum"] == [s.value for s in OrderStatus]  # type: ignore[index]


async def test_405_names_every_method_of_the_path() -> None:
    app = create_app(GatewaySettings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        resp = await http.put("/api/orders")
    assert resp.status_code == 405
    assert resp.headers["allow"] == "GET, POST"
    assert resp.json() == {"type": "MethodNotAllowed", "detail": "Method Not Allowed"}
