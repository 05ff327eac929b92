"""What every activity client shares: idempotency keys and error mapping.

A 4xx answer that means "no" (out of stock, declined, illegal transition)
becomes an ``ApplicationError`` whose ``type`` is the service's stable error
type, so workflows can tell business rejections apart. Forward steps mark it
non-retryable; compensations (``undo=True``) leave the decision to the
workflow's compensation retry policy, which knows which undos can never
succeed. 5xx answers, 408/429 and transport errors are raised as retryable
and Temporal retries them with backoff. So is a 401: the service refused
the worker's service token (``PAKLOG_SERVICE_TOKEN`` differs between the
two), a deployment fault that retries ride out once it is fixed, not a
business "no" that should cancel the order. So is a 409 ``IdempotencyKeyInProgress``:
an earlier attempt of the same step is still running (or crashed and its
lease has yet to run out), and a later retry gets its answer.

Rejections that mean "your compensation already ran" are ordinary
non-retryable rejections too: ``ReservationReleased`` (a late reserve after
the release) and ``PaymentVoided`` (a late authorize after the void).
"""

from __future__ import annotations

from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from common.service_auth import service_headers

RETRYABLE_STATUSES = frozenset({401, 408, 425, 429})
#: 4xx answers that mean "not yet" rather than "no".
RETRYABLE_TYPES = frozenset({"IdempotencyKeyInProgress"})


def idempotency_key(step: str) -> str:
    """``<workflow id>:<step>``, e.g. ``order-42:reserve``: stable across retries and worker restarts."""
    info = activity.info()
    return f"{info.workflow_id}:{step}"


class ServiceCallError(Exception):
    """A retryable failure answered by a service (5xx, 429 ...)."""


def raise_for_rejection(resp: httpx.Response, *, undo: bool = False) -> None:
    """Map a service answer to success, a retryable error or a rejection.

    Args:
        resp: The service's answer.
        undo: The call is a compensation: a rejection is not marked
            non-retryable, so the workflow's compensation policy decides.
    """
    if resp.status_code < 400:
        return
    body: dict[str, Any]
    try:
        parsed = resp.json()
        body = parsed if isinstance(parsed, dict) else {}
    except ValueError:
        body = {}
    error_type = str(body.get("type") or f"HTTP{resp.status_code}")
    detail = str(body.get("detail") or resp.text[:500])
    if resp.status_code >= 500 or resp.status_code in RETRYABLE_STATUSES or error_type in RETRYABLE_TYPES:
        raise ServiceCallError(
            f"{resp.request.method} {resp.request.url.path} -> {resp.status_code} {error_type}: {detail}"
        )
    raise ApplicationError(detail, body, type=error_type, non_retryable=not undo)


class ServiceClient:
    """Base of the typed clients: one shared pooled ``httpx.AsyncClient``, a base URL and the service token.

    Args:
        http: The worker's pooled client.
        base_url: The service's address.
        service_token: ``PAKLOG_SERVICE_TOKEN``, sent on every call (the services refuse calls without it).
    """

    def __init__(self, http: httpx.AsyncClient, base_url: str, service_token: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.service_token = service_token
        self._auth = service_headers(service_token)

    async def post(self, path: str, payload: dict[str, Any] | None, key: str | None) -> httpx.Response:
        headers = {**self._auth, "Idempotency-Key": key} if key else self._auth
        return await self.http.post(f"{self.base_url}{path}", json=payload, headers=headers)

    async def put(self, path: str, payload: dict[str, Any], key: str | None) -> httpx.Response:
        headers = {**self._auth, "Idempotency-Key": key} if key else self._auth
        return await self.http.put(f"{self.base_url}{path}", json=payload, headers=headers)

    async def get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        return await self.http.get(f"{self.base_url}{path}", params=params, headers=self._auth)
