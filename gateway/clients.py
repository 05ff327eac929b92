"""Read-only clients of the domain services, as the gateway uses them.

Any service failure becomes a 503 ``Unavailable`` (the caller may retry);
404s are returned as ``None`` so routes decide what a missing thing means.
"""

from __future__ import annotations

from typing import Any

import httpx

from common.errors import Conflict, DomainError, Forbidden, RuleViolation, Unavailable
from common.settings import ServiceUrls

_UPSTREAM_ERRORS: dict[int, type[DomainError]] = {403: Forbidden, 409: Conflict, 422: RuleViolation}


class ServiceClients:
    def __init__(self, http: httpx.AsyncClient, urls: ServiceUrls) -> None:
        self.http = http
        self.urls = urls

    async def _get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        try:
            resp = await self.http.get(url, params=params)
        except httpx.HTTPError as exc:
            raise Unavailable(f"{url.split('/')[2]} is unreachable", type="ServiceUnavailable") from exc
        if resp.status_code == 404:
            return None
        if resp.status_code >= 500:
            raise Unavailable(f"{url.split('/')[2]} answered {resp.status_code}", type="ServiceUnavailable")
        if resp.status_code >= 400:
            body = resp.json()
            error_class = _UPSTREAM_ERRORS.get(resp.status_code, DomainError)
            raise error_class(body.get("detail", "rejected"), type=body.get("type"))
        return resp.json()

    async def product(self, sku: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self._get(f"{self.urls.inventory_url}/products/{sku}")
        return result

    async def products(self, limit: int, offset: int) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._get(
            f"{self.urls.inventory_url}/products", {"limit": limit, "offset": offset}
        )
        return result

    async def order(self, order_id: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self._get(f"{self.urls.orders_url}/orders/{order_id}")
        return result

    async def orders(
        self, *, customer_id: str | None, status: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if customer_id:
            params["customer_id"] = customer_id
        if status:
            params["status"] = status
        result: list[dict[str, Any]] = await self._get(f"{self.urls.orders_url}/orders", params)
        return result

    async def payment_status(self, order_id: str) -> str | None:
        """Status of the order's newest payment attempt, if any."""
        payments: list[dict[str, Any]] | None = await self._get(
            f"{self.urls.payments_url}/payments", {"order_id": order_id}
        )
        if not payments:
            return None
        newest = max(payments, key=lambda p: p.get("created_at", ""))
        status: str | None = newest.get("status")
        return status

    async def login(self, username: str, password: str) -> httpx.Response:
        """Identity's answer to a password login; its own 4xx pass through unchanged."""
        try:
            resp = await self.http.post(
                f"{self.urls.identity_url}/token", data={"username": username, "password": password}
            )
        except httpx.HTTPError as exc:
            raise Unavailable("identity is unreachable", type="ServiceUnavailable") from exc
        if resp.status_code >= 500:
            raise Unavailable(f"identity answered {resp.status_code}", type="ServiceUnavailable")
        return resp
