"""The correlation id through Temporal: a client interceptor and a worker interceptor.

* :class:`ClientTracing` (on every client :func:`gateway.temporal.connect_temporal`
  makes): a workflow started while a request id is current gets it in its memo
  (``request_id``, beside the memos the caller gave) and every start, signal,
  update (update-with-start included) and query carries it in the Temporal
  header :data:`TEMPORAL_HEADER`.
* :class:`WorkerTracing` (on the worker, :func:`paklog.worker.build_worker`):
  a workflow remembers the id of its start and replaces it with the id of
  each signal and update it handles (so the compensations a ``cancel`` update
  runs carry the cancel's id); it puts the id in the header of every
  activity, local activity and child workflow it schedules, of its signals
  to other workflows, and of its continue-as-new. A workflow started without
  one (a Schedule, the CLI) takes its run id's 32 hex digits as its id.
  An activity makes the header's id current (:mod:`common.correlation`, so its
  calls to services send it as ``X-Request-ID``) and binds ``request_id``,
  ``workflow_id`` and ``activity`` for its log lines. An activity that raises
  something that is not a business outcome or a known transient failure is
  logged at ERROR (and so reaches the exception log, :mod:`common.exception_log`).

Cost: a dict lookup and one small JSON payload per call; no logging on the
way. Headers are not part of Temporal's determinism check: histories recorded
without them replay unchanged, and the workflow interceptor issues no commands.
It runs inside the workflow sandbox (this module passes through it, as
``common`` does) and keeps its state per workflow instance; it reads only
``workflow.info()`` and the inputs' headers, so it is deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn, Protocol

import httpx
import structlog
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Interceptor as ClientInterceptor,
)
from temporalio.client import (
    OutboundInterceptor as ClientOutbound,
)
from temporalio.client import (
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    StartWorkflowUpdateWithStartInput,
    WorkflowHandle,
    WorkflowUpdateHandle,
)
from temporalio.exceptions import FailureError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ContinueAsNewInput,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleSignalInput,
    HandleUpdateInput,
    SignalChildWorkflowInput,
    SignalExternalWorkflowInput,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.worker import (
    Interceptor as WorkerInterceptor,
)

from common.correlation import (
    MAX_REQUEST_ID_LENGTH,
    current_request_id,
    new_request_id,
    remember_run,
    request_id_context,
)
from common.logging import get_logger

#: The Temporal header that carries the correlation id.
TEMPORAL_HEADER = "paklog-request-id"
#: The memo key of the id a workflow was started for.
MEMO_KEY = "request_id"

log = get_logger("paklog.activity")

_JSON = {"encoding": b"json/plain"}


class _HasHeaders(Protocol):
    headers: Mapping[str, Payload]


def encode(request_id: str) -> Payload:
    """The header payload: the id as a JSON string (readable in the Web UI and ``temporal workflow show``)."""
    return Payload(metadata=_JSON, data=json.dumps(request_id).encode())


def decode(headers: Mapping[str, Payload]) -> str | None:
    """The id in ``headers``, if there is one and it is a string."""
    payload = headers.get(TEMPORAL_HEADER)
    if payload is None:
        return None
    try:
        value = json.loads(payload.data)
    except ValueError:
        return None
    return value[:MAX_REQUEST_ID_LENGTH] if isinstance(value, str) and value else None


def _stamp(input: _HasHeaders, request_id: str | None) -> None:
    if request_id is not None and TEMPORAL_HEADER not in input.headers:
        input.headers = {**input.headers, TEMPORAL_HEADER: encode(request_id)}


# -- client ------------------------------------------------------------------------------------------


class ClientTracing(ClientInterceptor):
    """Client interceptor: the current request id into memos and headers (see the module docstring)."""

    def intercept_client(self, next: ClientOutbound) -> ClientOutbound:
        return _ClientOutbound(next)


class _ClientOutbound(ClientOutbound):
    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        request_id = current_request_id()
        if request_id is not None:
            _stamp(input, request_id)
            if MEMO_KEY not in (input.memo or {}):
                input.memo = {**(input.memo or {}), MEMO_KEY: request_id}
        return await super().start_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        _stamp(input, current_request_id())
        await super().signal_workflow(input)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        _stamp(input, current_request_id())
        return await super().query_workflow(input)

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> WorkflowUpdateHandle[Any]:
        _stamp(input, current_request_id())
        return await super().start_workflow_update(input)

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> WorkflowUpdateHandle[Any]:
        request_id = current_request_id()
        if request_id is not None:
            start = input.start_workflow_input
            _stamp(start, request_id)
            _stamp(input.update_workflow_input, request_id)
            if MEMO_KEY not in (start.memo or {}):
                start.memo = {**(start.memo or {}), MEMO_KEY: request_id}
        return await super().start_update_with_start_workflow(input)


# -- worker: workflows ---------------------------------------------------------------------------------


class _WorkflowTrace:
    """One workflow instance's current id, shared by its inbound and outbound interceptors."""

    __slots__ = ("request_id",)

    def __init__(self) -> None:
        self.request_id: str | None = None

    def use(self, request_id: str | None) -> None:
        if request_id is not None and request_id != self.request_id:
            self.request_id = request_id
            remember_run(workflow.info().run_id, request_id)


class _WorkflowInbound(WorkflowInboundInterceptor):
    def __init__(self, next: WorkflowInboundInterceptor) -> None:
        super().__init__(next)
        self.trace = _WorkflowTrace()

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowOutbound(outbound, self.trace))

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        # Deterministic: the header is in the start event; the run id is the workflow's own.
        self.trace.use(decode(input.headers) or workflow.info().run_id.replace("-", ""))
        return await super().execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        self.trace.use(decode(input.headers))
        await super().handle_signal(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        # The validator runs first and may reject: only an accepted update's id becomes current.
        self.trace.use(decode(input.headers))
        return await super().handle_update_handler(input)


class _WorkflowOutbound(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor, trace: _WorkflowTrace) -> None:
        super().__init__(next)
        self.trace = trace

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        _stamp(input, self.trace.request_id)
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle[Any]:
        _stamp(input, self.trace.request_id)
        return super().start_local_activity(input)

    async def start_child_workflow(self, input: StartChildWorkflowInput) -> workflow.ChildWorkflowHandle[Any, Any]:
        _stamp(input, self.trace.request_id)
        return await super().start_child_workflow(input)

    async def signal_child_workflow(self, input: SignalChildWorkflowInput) -> None:
        _stamp(input, self.trace.request_id)
        await super().signal_child_workflow(input)

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        _stamp(input, self.trace.request_id)
        await super().signal_external_workflow(input)

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        _stamp(input, self.trace.request_id)
        super().continue_as_new(input)


# -- worker: activities --------------------------------------------------------------------------------

#: Failures that are not bugs: Temporal's own (business rejections are ``ApplicationError``s), a service
#: out of reach or timing out. A service's 5xx answer (``activities.base.ServiceCallError``) is not among
#: them by type, but is told apart by name below: the service that failed logged its own exception.
_EXPECTED: tuple[type[BaseException], ...] = (FailureError, httpx.TransportError)
_EXPECTED_NAMES = frozenset({"ServiceCallError"})


def is_unexpected(exc: BaseException) -> bool:
    """Whether an activity's exception is a bug worth the exception log (see :data:`_EXPECTED`)."""
    return not isinstance(exc, _EXPECTED) and type(exc).__name__ not in _EXPECTED_NAMES


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        # Scheduled before the workflow carried ids (or by a client without one): one id per workflow run.
        request_id = decode(input.headers) or (info.workflow_run_id or new_request_id()).replace("-", "")
        with (
            request_id_context(request_id),
            structlog.contextvars.bound_contextvars(
                request_id=request_id, workflow_id=info.workflow_id, activity=info.activity_type
            ),
        ):
            try:
                return await super().execute_activity(input)
            except Exception as exc:
                if is_unexpected(exc):
                    log.error("activity raised an unexpected error", attempt=info.attempt, exc_info=exc)
                raise


class WorkerTracing(WorkerInterceptor):
    """Worker interceptor: the id through workflows into activities (see the module docstring)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _WorkflowInbound
