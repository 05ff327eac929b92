"""Workflow updates sent by the gateway: a deadline on the answer, and the refusal as a 409."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from temporalio.client import (
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCStatusCode

from common.errors import Conflict

#: An update to a workflow that never ran, or has closed, is refused with one of these.
GONE = frozenset({RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION})


@dataclass(frozen=True)
class Done:
    """An update that finished within the deadline, with its result."""

    value: Any


class Rejection(Exception):
    """A workflow refused an update (its validator) or the update's own steps failed."""

    def __init__(self, type: str | None, detail: str, details: tuple[Any, ...] = ()) -> None:
        super().__init__(detail)
        self.type = type
        self.detail = detail
        self.details = details

    def conflict(self, default_type: str, **extra: Any) -> Conflict:
        """409 with the workflow's error type (``default_type`` when it gave none) and its details, if JSON."""
        body = dict(extra)
        if self.details and _is_json(list(self.details)):
            body["details"] = list(self.details)
        return Conflict(self.detail, type=self.type or default_type, extra=body or None)


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _rejection(exc: WorkflowUpdateFailedError) -> Rejection:
    """The first ``ApplicationError`` in the failure's cause chain (an activity's, behind an ``ActivityError``)."""
    cause: BaseException | None = exc.cause
    while cause is not None:
        if isinstance(cause, ApplicationError):
            # A validator that raised a plain exception shows up as its class name: not a domain type.
            domain_type = cause.type if cause.type and not cause.type.endswith(("Error", "Exception")) else None
            return Rejection(domain_type, cause.message or str(cause), tuple(cause.details))
        cause = cause.__cause__
    return Rejection(None, str(exc.cause or exc))


async def run_update(
    handle: WorkflowHandle[Any, Any],
    update: str,
    arg: Any,
    *,
    wait_seconds: float,
    result_type: type | None = None,
) -> Done | None:
    """Send an update and wait up to ``wait_seconds`` for its result.

    Returns:
        :class:`Done` with the result, or ``None`` when it was accepted but is still running.

    Raises:
        Rejection: the validator refused it, or the update failed.
        RPCError: ``NOT_FOUND`` / ``FAILED_PRECONDITION`` when no such workflow is running.
    """
    try:
        running = await handle.start_update(
            update, arg, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=result_type
        )
        try:
            return Done(await asyncio.wait_for(running.result(), timeout=wait_seconds))
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            return None
    except WorkflowUpdateFailedError as exc:
        raise _rejection(exc) from None
