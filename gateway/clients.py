"""Clients of the domain services, as the gateway uses them (reads; writes go through workflows).

A service that cannot be reached, or answers 502/503/504, becomes a 503
``ServiceUnavailable`` (the caller may retry); one that answers a 500, or a
body that is not the JSON its contract promises, becomes a 502
``BadGateway``. 404s are returned as ``None`` so routes decide what a missing
thing means; other 4xx keep the service's ``type`` and ``detail``. Every call
carries the deployment's service token (:mod:`common.service_auth`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from common.errors import BadGateway, Conflict, DomainError, Forbidden, RuleViolation, Unauthorized, Unavailable
from common.service_auth import service_headers
from common.settings import ServiceUrls
from common.stock_adjustments import post_pending
from gateway.audit.models import AuditPageView, ExceptionPageView
from gateway.erp_event_models import ErpEventAnswer, ErpEventPageRecord, SalesOrderEventAnswer
from gateway.erp_models import WatermarkRecord
from gateway.models import (
    HistoryPageRecord,
    OrderPageRecord,
    OrderRecord,
    PaymentRecord,
    ProductPage,
    ProductView,
    TokenResponse,
)
from gateway.tracking_models import EventApplied, SubscriptionView, TrackingRecord
from gateway.warehouse_models import (
    CarrierView,
    ShipmentPageRecord,
    ShipmentView,
    TaskView,
    WaveListRecord,
    WaveSummary,
    WaveView,
)

T = TypeVar("T")

_UPSTREAM_ERRORS: dict[int, type[DomainError]] = {
    401: Unauthorized,
    403: Forbidden,
    409: Conflict,
    422: RuleViolation,
}
_UNAVAILABLE_STATUSES = frozenset({502, 503, 504})

_PRODUCT = TypeAdapter(ProductView)
_PRODUCTS = TypeAdapter(ProductPage)
_ORDER = TypeAdapter(OrderRecord)
_ORDERS = TypeAdapter(OrderPageRecord)
_PAYMENTS = TypeAdapter(list[PaymentRecord])
_HISTORY = TypeAdapter(HistoryPageRecord)
#: A long-poll may take its wait and then this long to answer before it counts as unreachable.
LONG_POLL_MARGIN_SECONDS = 10.0
_TOKEN = TypeAdapter(TokenResponse)
_WAVE = TypeAdapter(WaveView)
_WAVES = TypeAdapter(WaveListRecord | list[WaveSummary])
_TASK = TypeAdapter(TaskView)
_SHIPMENT = TypeAdapter(ShipmentView)
_SHIPMENTS = TypeAdapter(ShipmentPageRecord)
_CARRIERS = TypeAdapter(list[CarrierView])
_EVENT_APPLIED = TypeAdapter(EventApplied)
_TRACKING = TypeAdapter(TrackingRecord)
_SUBSCRIPTIONS = TypeAdapter(list[SubscriptionView])
_WATERMARKS = TypeAdapter(dict[str, WatermarkRecord | None])
_ERP_EVENT = TypeAdapter(ErpEventAnswer)
_SALES_ORDER_EVENT = TypeAdapter(SalesOrderEventAnswer)
_ERP_EVENTS = TypeAdapter(ErpEventPageRecord)
_AUDIT_PAGE = TypeAdapter(AuditPageView)
_EXCEPTIONS_PAGE = TypeAdapter(ExceptionPageView)
PDF = "application/pdf"


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


class _Service:
    """One service's base URL over :class:`ServiceClients`' pooled client (what ``post_pending`` takes)."""

    def __init__(self, clients: ServiceClients, base_url: str) -> None:
        self.clients = clients
        self.base_url = base_url.rstrip("/")

    async def get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        return await self.clients._send("GET", f"{self.base_url}{path}", params=params)

    async def post(self, path: str, payload: dict[str, Any] | None, key: str | None) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else None
        return await self.clients._send("POST", f"{self.base_url}{path}", json=payload, extra_headers=headers)


class ServiceClients:
    def __init__(self, http: httpx.AsyncClient, urls: ServiceUrls) -> None:
        self.http = http
        self.urls = urls
        self._auth = service_headers(urls.service_token.get_secret_value())

    async def _send(
        self, method: str, url: str, extra_headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {**self._auth, **extra_headers} if extra_headers else self._auth
        try:
            return await self.http.request(method, url, headers=headers, **kwargs)
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

    async def products(self, limit: int, offset: int, q: str | None = None) -> ProductPage:
        """A page of the catalogue; ``q`` (a substring of the SKU or name) is inventory's to match."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if q is not None:
            params["q"] = q
        return await self._listing(_PRODUCTS, f"{self.urls.inventory_url}/products", params)

    async def order(self, order_id: str) -> OrderRecord | None:
        return await self._get(_ORDER, f"{self.urls.orders_url}/orders/{order_id}")

    async def orders(
        self,
        *,
        customer_id: str | None,
        status: str | None,
        limit: int,
        offset: int,
        cursor: str | None = None,
        reason: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> OrderPageRecord:
        """A page of orders (filtered by the orders service, in SQL); a cursor it did not give out is its 422
        ``InvalidCursor``."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if customer_id:
            params["customer_id"] = customer_id
        if status:
            params["status"] = status
        if reason:
            params["reason"] = reason
        if since is not None:
            params["since"] = since.isoformat()
        if until is not None:
            params["until"] = until.isoformat()
        if cursor is not None:
            params["cursor"] = cursor
        page = await self._get(_ORDERS, f"{self.urls.orders_url}/orders", params)
        if page is None:  # the list itself is never missing: a 404 here is a broken contract
            raise BadGateway(f"{_service(self.urls.orders_url)} has no order list")
        return page

    async def order_history(self, *, after: str | None, limit: int, wait_seconds: float = 0) -> HistoryPageRecord:
        """Every order's changes after the cursor ``after`` in commit order, waiting up to ``wait_seconds``
        for one (a long-poll); without ``after``, none and ``next`` = now."""
        params: dict[str, Any] = {"limit": limit, "wait_seconds": wait_seconds}
        if after is not None:
            params["after"] = after
        url = f"{self.urls.orders_url}/history"
        resp = await self._send("GET", url, params=params, timeout=wait_seconds + LONG_POLL_MARGIN_SECONDS)
        if resp.status_code == 404:  # the feed itself is never missing: a broken contract
            raise BadGateway(f"{_service(url)} has no history feed")
        _raise_for_status(resp)
        return _parse(_HISTORY, resp)

    async def payment_status(self, order_id: str) -> str | None:
        """Status of the order's newest payment attempt, if any."""
        payments = await self._get(_PAYMENTS, f"{self.urls.payments_url}/payments", {"order_id": order_id})
        if not payments:
            return None
        return max(payments, key=lambda p: p.created_at).status

    async def _listing(self, adapter: TypeAdapter[T], url: str, params: dict[str, Any] | None = None) -> T:
        found = await self._get(adapter, url, params)
        if found is None:  # a list itself is never missing: a 404 here is a broken contract
            raise BadGateway(f"{_service(url)} has no list at {httpx.URL(url).path}")
        return found

    async def audit_records(self, params: dict[str, Any]) -> AuditPageView:
        """A page of the audit trail, newest first; ``params`` are the audit service's filters."""
        return await self._listing(_AUDIT_PAGE, f"{self.urls.audit_url}/records", params)

    async def exceptions(self, params: dict[str, Any]) -> ExceptionPageView:
        """A page of the exception log, newest first; ``params`` are the audit service's filters."""
        return await self._listing(_EXCEPTIONS_PAGE, f"{self.urls.audit_url}/exceptions", params)

    # -- warehouse ----------------------------------------------------------------------
    async def wave(self, wave_id: str) -> WaveView | None:
        return await self._get(_WAVE, f"{self.urls.warehouse_url}/waves/{wave_id}")

    async def waves(self, *, status: str | None, limit: int, offset: int) -> WaveListRecord:
        """A page of waves, newest first; a bare list from the warehouse is read as a page without a total."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        found = await self._listing(_WAVES, f"{self.urls.warehouse_url}/waves", params)
        if isinstance(found, list):
            return WaveListRecord(items=found, limit=limit, offset=offset)
        return found

    async def task(self, task_id: str) -> TaskView | None:
        return await self._get(_TASK, f"{self.urls.warehouse_url}/tasks/{task_id}")

    async def next_task(self, *, picker: str, wave_id: str | None) -> TaskView | None:
        """The picker's assigned task, else the next open one (now assigned to them); ``None`` when none is open."""
        params: dict[str, Any] = {"picker": picker}
        if wave_id:
            params["wave_id"] = wave_id
        resp = await self._send("GET", f"{self.urls.warehouse_url}/tasks/next", params=params)
        if resp.status_code == 204:
            return None
        if resp.status_code == 404:
            raise BadGateway(f"{_service(resp)} has no /tasks/next")
        _raise_for_status(resp)
        return _parse(_TASK, resp)

    # -- shipping -----------------------------------------------------------------------
    async def shipments(self, *, limit: int, cursor: str | None) -> ShipmentPageRecord:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        return await self._listing(_SHIPMENTS, f"{self.urls.shipping_url}/shipments", params)

    async def shipment(self, tracking_code: str) -> ShipmentView | None:
        return await self._get(_SHIPMENT, f"{self.urls.shipping_url}/shipments/{tracking_code}")

    async def carriers(self) -> list[CarrierView]:
        return await self._listing(_CARRIERS, f"{self.urls.shipping_url}/carriers")

    async def open_label(self, tracking_code: str) -> httpx.Response | None:
        """The label's PDF as an open streaming response (the caller closes it); ``None`` when there is none."""
        url = f"{self.urls.shipping_url}/shipments/{tracking_code}/label"
        request = self.http.build_request("GET", url, headers=self._auth)
        try:
            resp = await self.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise Unavailable(f"{_service(url)} is unreachable", type="ServiceUnavailable") from exc
        try:
            if resp.status_code >= 400:
                await resp.aread()
                if resp.status_code != 404:
                    _raise_for_status(resp)
            elif resp.headers.get("content-type", "").split(";")[0].strip() != PDF:
                raise BadGateway(f"{_service(resp)} answered a label that is not a PDF")
        except BaseException:
            await resp.aclose()
            raise
        if resp.status_code == 404:
            await resp.aclose()
            return None
        return resp

    # -- tracking ----------------------------------------------------------------------
    async def tracking_event(self, event: dict[str, Any]) -> EventApplied | None:
        """Hand a carrier's event to shipping (de-duplicated there by ``event_id``); ``None``: unknown shipment."""
        resp = await self._send("POST", f"{self.urls.shipping_url}/tracking/events", json=event)
        if resp.status_code == 404:
            return None
        _raise_for_status(resp)
        return _parse(_EVENT_APPLIED, resp)

    async def mark_forwarded(self, event_id: str) -> None:
        """The order's workflow has the event: a later repeat of it is not signalled again."""
        resp = await self._send("POST", f"{self.urls.shipping_url}/tracking/events/{event_id}/forwarded")
        _raise_for_status(resp)

    # -- the ERP's events ----------------------------------------------------------------
    async def _erp_event(self, adapter: TypeAdapter[T], url: str, event: dict[str, Any]) -> T:
        resp = await self._send("POST", url, json=event)
        if resp.status_code == 404:  # the route itself: an event's object missing is a dead letter, not a 404
            raise BadGateway(f"{_service(resp)} has no {httpx.URL(url).path}")
        _raise_for_status(resp)
        return _parse(adapter, resp)

    async def sales_order_event(self, event: dict[str, Any]) -> SalesOrderEventAnswer:
        """Hand a ``SalesOrderStatusChanged`` to orders (recorded there once per ``event_id``)."""
        return await self._erp_event(_SALES_ORDER_EVENT, f"{self.urls.orders_url}/erp-events", event)

    async def material_event(self, event: dict[str, Any]) -> ErpEventAnswer:
        """Hand a ``MaterialChanged`` or ``StockChanged`` to inventory."""
        return await self._erp_event(_ERP_EVENT, f"{self.urls.inventory_url}/erp/events", event)

    async def post_stock_adjustments(self) -> int:
        """Carry inventory's pending stock adjustments into the warehouse's adjustment bin; how many."""
        inventory = _Service(self, self.urls.inventory_url)
        warehouse = _Service(self, self.urls.warehouse_url)
        return await post_pending(inventory, warehouse, _raise_for_status)

    async def customer_event(self, event: dict[str, Any]) -> ErpEventAnswer:
        """Hand a ``CustomerChanged`` to identity."""
        return await self._erp_event(_ERP_EVENT, f"{self.urls.identity_url}/erp/events", event)

    async def mark_erp_event_forwarded(self, event_id: str) -> None:
        """The order's workflow has the event: a later repeat of it is not signalled again."""
        resp = await self._send("POST", f"{self.urls.orders_url}/erp-events/{event_id}/forwarded")
        _raise_for_status(resp)

    async def erp_dead_letters(self, source: str, *, limit: int) -> ErpEventPageRecord:
        """The newest ``limit`` dead letters that ``orders`` or ``inventory`` keeps."""
        url = f"{self.urls.orders_url}/erp-events" if source == "orders" else f"{self.urls.inventory_url}/erp/events"
        return await self._listing(_ERP_EVENTS, url, {"status": "dead_letter", "limit": limit, "offset": 0})

    async def tracking(self, tracking_code: str) -> TrackingRecord | None:
        return await self._get(_TRACKING, f"{self.urls.shipping_url}/tracking/{tracking_code}")

    async def subscribe(self, tracking_code: str, *, username: str, email: str, title: str) -> bool | None:
        """Subscribe; True when new, False when it existed (title updated), ``None``: unknown shipment."""
        resp = await self._send(
            "POST",
            f"{self.urls.shipping_url}/tracking/{tracking_code}/subscriptions",
            json={"username": username, "email": email, "title": title},
        )
        if resp.status_code == 404:
            return None
        _raise_for_status(resp)
        return resp.status_code == 201

    async def unsubscribe(self, tracking_code: str, username: str) -> bool:
        """False when there was no such subscription."""
        resp = await self._send("DELETE", f"{self.urls.shipping_url}/tracking/{tracking_code}/subscriptions/{username}")
        if resp.status_code == 404:
            return False
        _raise_for_status(resp)
        return True

    async def subscriptions(self, username: str, *, limit: int, offset: int) -> list[SubscriptionView]:
        return await self._listing(
            _SUBSCRIPTIONS,
            f"{self.urls.shipping_url}/subscriptions",
            {"username": username, "limit": limit, "offset": offset},
        )

    async def login(self, username: str, password: str) -> TokenResponse:
        """Identity's token for a password login; its 401 (wrong credentials) passes through."""
        resp = await self._send(
            "POST", f"{self.urls.identity_url}/token", data={"username": username, "password": password}
        )
        _raise_for_status(resp)
        return _parse(_TOKEN, resp)

    async def client_token(self, client_id: str, client_secret: str) -> TokenResponse:
        """Identity's token for a partner client (client credentials); its 401 ``InvalidClient`` passes through."""
        resp = await self._send(
            "POST",
            f"{self.urls.identity_url}/token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
        )
        _raise_for_status(resp)
        return _parse(_TOKEN, resp)

    async def erp_watermarks(self, service_url: str) -> dict[str, WatermarkRecord | None]:
        """The master-data import's watermarks a service (inventory, identity) committed, by entity.

        A service without the import's endpoints yet (404) has none.
        """
        return await self._get(_WATERMARKS, f"{service_url}/erp/watermarks") or {}
