"""Read-only clients of the domain services, as the gateway uses them.

A service that cannot be reached, or answers 502/503/504, becomes a 503
``ServiceUnavailable`` (the caller may retry); one that answers a 500, or a
body that is not the JSON its contract promises, becomes a 502
``BadGateway``. 404s are returned as ``None`` so routes decide what a missing
thing means; other 4xx keep the service's ``type`` and ``detail``. Every call
carries the deployment's service token (:mod:`common.service_auth`).
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from common.errors import BadGateway, Conflict, DomainError, Forbidden, RuleViolation, Unauthorized, Unavailable
from common.service_auth import service_headers
from common.settings import ServiceUrls
from gateway.models import OrderPageRecord, OrderRecord, PaymentRecord, ProductView, TokenResponse

T = TypeVar("T")

_UPSTREAM_ERRORS: dict[int, type[DomainError]] = {
    401: Unauthorized,
    403: Forbidden,
    409: Conflict,
    422: RuleViolation,
}
_UNAVAILABLE_STATUSES = frozenset({502, 503, 504})

_PRODUCT = TypeAdapter(ProductView)
_PRODUCTS = TypeAdapter(list[ProductView])
_ORDER = TypeAdapter(OrderRecord)
_ORDERS = TypeAdapter(OrderPageRecord)
_PAYMENTS = TypeAdapter(list[PaymentRecord])
_TOKEN = TypeAdapter(TokenResponse)


def _service(resp_or_url: httpx.Response | str) -> str:
    url = resp_or_url.request.url if isinstance(resp_or_url, httpx.Response) else httpx.URL(resp_or_url)
    return f"{url.host}:{url.port}"


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:  # not JSON at all, or not UTF-8
        raise BadGateway(f"{_service(resp)} answered {resp.status_code} with a body that is not JSON") from None


def _parse(adapter: TypeAdapter[T], resp: httpx.Response) -> T:
    try:
        return adapter.validate_python(_json(resp))
    except ValidationError as exc:
        raise BadGateway(
            f"{_service(resp)} answered {resp.status_code} with a body outside its contract ({exc.error_count()} errors)"
        ) from None


def _raise_for_status(resp: httpx.Response) -> None:
    """Map a service's error answer to the gateway's; 2xx passes."""
    if resp.status_code < 400:
        return
    where = _service(resp)
    if resp.status_code in _UNAVAILABLE_STATUSES:
        raise Unavailable(f"{where} answered {resp.status_code}", type="ServiceUnavailable")
    if resp.status_code >= 500:
        raise BadGateway(f"{where} answered {resp.status_code}")
    body = _json(resp)
    if not isinstance(body, dict) or not isinstance(body.get("detail", ""), str):
        raise BadGateway(f"{where} answered {resp.status_code} without a {{type, detail}} body")
    error_class = _UPSTREAM_ERRORS.get(resp.status_code)
    if error_class is None:  # a 4xx the gateway's callers cannot have caused
        raise BadGateway(f"{where} answered {resp.status_code}: {body.get('detail', '')}"[:300])
    upstream_type = body.get("type")
    raise error_class(body.get("detail") or "rejected", type=upstream_type if isinstance(upstream_type, str) else None)


class ServiceClients:
    def __init__(self, http: httpx.AsyncClient, urls: ServiceUrls) -> None:
        self.http = http
        self.urls = urls
        self._auth = service_headers(urls.service_token.get_secret_value())

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.request(method, url, headers=self._auth, **kwargs)
        except httpx.HTTPError as exc:
            raise Unavailable(f"{_service(url)} is unreachable", type="ServiceUnavailable") from exc

    async def _get(self, adapter: TypeAdapter[T], url: str, params: dict[str, Any] | None = None) -> T | None:
        resp = await self._send("GET", url, params=params)
        if resp.status_code == 404:
            return None
        _raise_for_status(resp)
        return _parse(adapter, resp)

    async def product(self, sku: str) -> ProductView | None:
        return await self._get(_PRODUCT, f"{self.urls.inventory_url}/products/{sku}")

    async def products(self, limit: int, offset: int) -> list[ProductView]:
        found = await self._get(_PRODUCTS, f"{self.urls.inventory_url}/products", {"limit": limit, "offset": offset})
        return found or []

    async def order(self, order_id: str) -> OrderRecord | None:
        return await self._get(_ORDER, f"{self.urls.orders_url}/orders/{order_id}")

    async def orders(
        self, *, customer_id: str | None, status: str | None, limit: int, offset: int, cursor: str | None = None
    ) -> OrderPageRecord:
        """A page of orders; a cursor the orders service did not give out is its 422 ``InvalidCursor``."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if customer_id:
            params["customer_id"] = customer_id
        if status:
            params["status"] = status
        if cursor is not None:
            params["cursor"] = cursor
        page = await self._get(_ORDERS, f"{self.urls.orders_url}/orders", params)
        if page is None:  # the list itself is never missing: a 404 here is a broken contract
            raise BadGateway(f"{_service(self.urls.orders_url)} has no order list")
        return page

    async def payment_status(self, order_id: str) -> str | None:
        """Status of the order's newest payment attempt, if any."""
        payments = await self._get(_PAYMENTS, f"{self.urls.payments_url}/payments", {"order_id": order_id})
        if not payments:
            return None
        return max(payments, key=lambda p: p.created_at).status

    async def login(self, username: str, password: str) -> TokenResponse:
        """Identity's token for a password login; its 401 (wrong credentials) passes through."""
        resp = await self._send(
            "POST", f"{self.urls.identity_url}/token", data={"username": username, "password": password}
        )
        _raise_for_status(resp)
        return _parse(_TOKEN, resp)
