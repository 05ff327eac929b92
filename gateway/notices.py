"""Starting AccountNotice: the welcome after a registration, the code of a password reset.

The gateway starts the workflow once identity has done its part; identity
never calls notifications. A duplicate start (the same business key) is
harmless. When Temporal cannot be reached the account change stands and the
message is lost: the answer does not fail for it (a reset can be asked for
again), and the loss is logged without the token.
"""

from __future__ import annotations

from datetime import UTC

import structlog
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from common.sealing import seal
from gateway.account_models import ResetRecord, UserRecord
from workflows.account_notice import WORKFLOW_NAME, AccountNoticeInput, NoticeKind, workflow_id

log = structlog.get_logger(__name__)


async def _start(temporal: Client, task_queue: str, kind: NoticeKind, key: str, notice: AccountNoticeInput) -> bool:
    try:
        await temporal.start_workflow(
            WORKFLOW_NAME,
            notice,
            id=workflow_id(kind, key),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return True
    except RPCError as exc:
        log.warning("account_notice_not_started", kind=kind, key=key, rpc_status=exc.status.name)
        return False
    return True


async def send_welcome(temporal: Client, task_queue: str, user: UserRecord) -> bool:
    """Start ``account-notice-welcome-<user id>``; False when Temporal could not be reached."""
    notice = AccountNoticeInput(kind="welcome", recipient=user.email, name=user.full_name, username=user.username)
    return await _start(temporal, task_queue, "welcome", user.id, notice)


async def send_reset(temporal: Client, task_queue: str, reset: ResetRecord, service_token: str) -> bool:
    """Start ``account-notice-password_reset-<reset id>`` carrying the code; False when Temporal is unreachable.

    The code is sealed (common/sealing.py): the workflow's history, which the
    Temporal Web UI shows, never holds it readable.
    """
    notice = AccountNoticeInput(
        kind="password_reset",
        recipient=reset.email,
        name=reset.name,
        username=reset.username,
        token=seal(service_token, reset.token),
        expires_at=reset.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    return await _start(temporal, task_queue, "password_reset", reset.reset_id, notice)
