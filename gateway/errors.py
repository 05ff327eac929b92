"""How the gateway's failures reach callers, and how its OpenAPI document says so.

Domain errors render through :mod:`common.errors`; this adds what only the
gateway meets (Temporal's RPC errors) and :func:`error_responses`, which
routes use to document the error statuses they can answer.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from temporalio.service import RPCError, RPCStatusCode

from common.errors import ErrorBody, domain_error_response, error_response, internal_error_response
from common.logging import get_logger
from gateway.updates import WorkflowBusy

log = get_logger("paklog.gateway")

# The server is down, overloaded or too slow: the same call may succeed later.
_TRANSIENT = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.ABORTED,
    }
)

_DESCRIPTIONS = {
    400: "The body could not be read at all (not UTF-8, not the declared content type)",
    401: "Missing, malformed or expired bearer token, or wrong credentials",
    403: "The caller's role may not do this",
    404: "No such resource, or not the caller's",
    409: "Conflicts with the resource's state or an earlier request",
    413: "Request body over the configured limit",
    422: "Malformed request, or well-formed but breaking a business rule",
    502: "A service behind the gateway answered outside its contract",
    503: "A service or the workflow engine is unreachable; retry later",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer, each an :class:`ErrorBody`."""
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS[code]} for code in codes}


def json_error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """As :func:`error_responses`, for a route whose success is not JSON (an event stream): its errors still are."""
    schema = {"$ref": "#/components/schemas/ErrorBody"}
    return {
        code: {"description": _DESCRIPTIONS[code], "content": {"application/json": {"schema": schema}}}
        for code in codes
    }


async def _temporal_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RPCError)
    if exc.status in _TRANSIENT:
        log.warning("temporal unavailable", rpc_status=exc.status.name, error=exc.message[:200])
        return error_response(503, "TemporalUnavailable", "the workflow engine is unreachable; retry later")
    if exc.status == RPCStatusCode.FAILED_PRECONDITION:
        # WorkflowNotReady: a running workflow whose workflow task keeps failing takes no query or update now.
        log.warning("workflow not ready", rpc_status=exc.status.name, error=exc.message[:200])
        return domain_error_response(WorkflowBusy())
    # Any other status means the gateway asked something wrong: a bug.
    log.error("temporal rejected a call", rpc_status=exc.status.name, error=exc.message[:200])
    return internal_error_response()


def install_gateway_error_handlers(app: FastAPI) -> None:
    """Render Temporal's RPC errors: unreachable or overloaded is 503 ``TemporalUnavailable``."""
    app.add_exception_handler(RPCError, _temporal_error_handler)
