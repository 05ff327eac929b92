"""Workflow updates sent by the gateway: a deadline on the answer, and the refusal as a 409."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from temporalio.client import (
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from common.errors import Conflict, Unavailable
from common.logging import get_logger

log = get_logger("gateway.updates")

#: An update (or signal) to a workflow that never ran, or has closed, is refused with this.
GONE = frozenset({RPCStatusCode.NOT_FOUND})
#: Temporal's ``WorkflowNotReady``: the workflow runs, but its workflow task keeps failing or timing out
#: (attempt 3 and on: a worker restarted under it, one overloaded) and it takes no update for the moment.
#: Not an ending: the same update goes through once a workflow task completes again.
NOT_READY = RPCStatusCode.FAILED_PRECONDITION
#: Pauses between tries of an update the workflow is not ready for (seconds); the last one repeats.
NOT_READY_PAUSES = (0.2, 0.5, 1.0, 2.0)


class WorkflowBusy(Unavailable):
    """503 ``WorkflowBusy`` with ``Retry-After: 1``: the workflow took no update within the wait (``NOT_READY``)."""

    default_type = "WorkflowBusy"
    headers = {"Retry-After": "1"}  # noqa: RUF012 - a class-wide constant, never mutated

    def __init__(
        self,
        detail: str = "the workflow is retrying a failed step and takes no request for the moment; retry in a second",
    ) -> None:
        super().__init__(detail)


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

    A workflow not ready for updates (``NOT_READY``) is asked again, with pauses, until the
    deadline: an update it never accepted changed nothing, so asking again is safe.

    Returns:
        :class:`Done` with the result, or ``None`` when it was accepted but is still running.

    Raises:
        Rejection: the validator refused it, or the update failed.
        WorkflowBusy: the workflow was still not ready for updates at the deadline.
        RPCError: ``NOT_FOUND`` (in :data:`GONE`) when no such workflow is running.
    """
    deadline = time.monotonic() + wait_seconds
    tries = 0
    while True:
        try:
            running = await handle.start_update(
                update, arg, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=result_type
            )
        except WorkflowUpdateFailedError as exc:
            raise _rejection(exc) from None
        except RPCError as exc:
            if exc.status != NOT_READY:
                raise
            left = deadline - time.monotonic()
            log.warning(
                "workflow not ready for an update",
                workflow_id=handle.id,
                update=update,
                attempt=tries + 1,
                error=exc.message[:200],
            )
            if left <= 0:
                raise WorkflowBusy() from None
            await asyncio.sleep(min(NOT_READY_PAUSES[min(tries, len(NOT_READY_PAUSES) - 1)], left))
            tries += 1
            continue
        try:
            return Done(await asyncio.wait_for(running.result(), timeout=max(deadline - time.monotonic(), 0)))
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            return None
        except WorkflowUpdateFailedError as exc:
            raise _rejection(exc) from None
