"""Note every ``/api`` call after its response went out; never delay or fail the call.

It sits outermost, so it sees the final status and ``X-Request-ID`` (the
request-context middleware's), 413s and 500s included. It hashes the bodies
as they stream past (keyed digests, :meth:`AuditTrail.hasher`), never keeps
them, and never reads a header but ``X-Request-ID``: no ``Authorization``,
password or token reaches a record. Who called is what the route's token
check verified (:func:`gateway.audit.middleware.note_principal`); a route may
add the order and workflow it started (:func:`note_order`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.logging import get_logger
from common.security import Principal
from gateway.audit.trail import AuditTrail

log = get_logger("paklog.audit")

#: Calls under this prefix are audited; /healthz, /docs and /openapi.json are not.
AUDITED_PREFIX = "/api"
_PRINCIPAL = "paklog.audit.principal"
_NOTE = "paklog.audit.note"
_METHOD = re.compile(r"[A-Z]{1,16}")
#: What the audit service accepts per field (services/audit/models.py).
_LIMITS = {"actor": 254, "actor_id": 64, "role": 32, "client": 64, "path": 2048, "route": 512}
_LIMITS |= {"request_id": 64, "workflow_id": 200, "order_id": 64}


def note_principal(request: Request, principal: Principal) -> None:
    """Remember who the verified token names, for this call's record."""
    request.scope.setdefault("state", {})[_PRINCIPAL] = principal


def note_order(request: Request, *, order_id: str, workflow_id: str) -> None:
    """Remember the order (and its workflow) a call created, which its path does not name."""
    request.scope.setdefault("state", {})[_NOTE] = {"order_id": order_id, "workflow_id": workflow_id}


def _clean(value: object, limit: int) -> str | None:
    """Text the audit database can store: no NUL, no lone surrogate, within its column; empty is None."""
    if value is None:
        return None
    text = str(value).encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")[:limit]
    return text or None


def build_entry(
    scope: Scope, *, record_id: str, at: datetime, status: int, request_id: str | None, digests: tuple[str | None, ...]
) -> dict[str, Any]:
    """The record of one call, as the audit service's ``POST /records`` takes it."""
    state: dict[str, Any] = scope.get("state") or {}
    principal: Principal | None = state.get(_PRINCIPAL)
    note: dict[str, str] = state.get(_NOTE) or {}
    params: dict[str, Any] = scope.get("path_params") or {}
    route = getattr(scope.get("route"), "path", None)
    order_id = note.get("order_id") or params.get("order_id")
    workflow_id = note.get("workflow_id")
    if workflow_id is None and order_id:
        workflow_id = f"order-{order_id}"  # DESIGN.md rule 4: workflow ids are business keys
    elif workflow_id is None and params.get("wave_id"):
        workflow_id = f"wave-{params['wave_id']}"
    method = str(scope.get("method", ""))
    raw: dict[str, Any] = {
        "actor": principal.username if principal else None,
        "actor_id": principal.user_id if principal else None,
        "role": principal.role if principal else None,
        "client": principal.username if principal and principal.is_partner else None,
        "path": scope.get("path") or "/",
        "route": route,
        "request_id": request_id,
        "workflow_id": workflow_id,
        "order_id": order_id,
    }
    entry: dict[str, Any] = {name: _clean(value, _LIMITS[name]) for name, value in raw.items()}
    entry.update(
        record_id=record_id,
        at=at.isoformat(),
        method=method if _METHOD.fullmatch(method) else "OTHER",
        status=status if 100 <= status <= 599 else 500,
        request_digest=digests[0],
        response_digest=digests[1],
    )
    return entry


class AuditMiddleware:
    """Hash the bodies in passing and hand the call's record to the app's :class:`AuditTrail`.

    Without a trail (an app whose lifespan did not run) calls pass untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        trail: AuditTrail | None = getattr(scope["app"].state, "audit", None) if "app" in scope else None
        if scope["type"] != "http" or trail is None or not str(scope.get("path", "")).startswith(AUDITED_PREFIX):
            await self.app(scope, receive, send)
            return
        at = datetime.now(UTC)
        request_hash, response_hash = trail.hasher(), trail.hasher()
        sizes = [0, 0]
        status = 500  # nothing was sent: the call failed before it could answer
        request_id: str | None = None

        async def hashing_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body: bytes = message.get("body", b"")
                request_hash.update(body)
                sizes[0] += len(body)
            return message

        async def hashing_send(message: Message) -> None:
            nonlocal status, request_id
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"x-request-id":
                        request_id = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                body: bytes = message.get("body", b"")
                response_hash.update(body)
                sizes[1] += len(body)
            await send(message)

        try:
            await self.app(scope, hashing_receive, hashing_send)
        finally:
            try:
                digests = (
                    request_hash.hexdigest() if sizes[0] else None,
                    response_hash.hexdigest() if sizes[1] else None,
                )
                trail.record(
                    build_entry(
                        scope,
                        record_id=trail.new_record_id(),
                        at=at,
                        status=status,
                        request_id=request_id,
                        digests=digests,
                    )
                )
            except Exception as exc:  # a record must never fail the call it records
                log.error("audit record not made", error=repr(exc), path=str(scope.get("path", ""))[:200])
