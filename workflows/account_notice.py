"""AccountNotice: one message about a person's account (a welcome, a password-reset code), sent durably.

Identity never calls notifications (a service never calls another): the
gateway starts this workflow after identity registered a user or issued a
reset token, and the worker's ``notifications.send`` activity delivers it,
retried through an outage of the notifications service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.notifications import NotificationsActivities, SendMessage

WORKFLOW_NAME = "AccountNotice"
NoticeKind = Literal["welcome", "password_reset"]
#: The notifications templates, one per kind (services/notifications/templates.py).
NOTICE_KINDS: tuple[NoticeKind, ...] = ("welcome", "password_reset")
NOTICE_TIMEOUT = timedelta(seconds=10)
#: About four minutes of attempts: a reset code lives 30 minutes, and a welcome that late is still welcome.
NOTICE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=12,
    non_retryable_error_types=["UnknownTemplate", "ValidationError", "IdempotencyKeyReused"],
)


def workflow_id(kind: NoticeKind, key: str) -> str:
    """``account-notice-<kind>-<key>``: the user's id for a welcome, the reset's id for a reset code."""
    return f"account-notice-{kind}-{key}"


@dataclass(frozen=True)
class AccountNoticeInput:
    """Whom to tell what. ``token`` and ``expires_at`` only for ``password_reset``."""

    kind: NoticeKind
    recipient: str
    name: str
    username: str
    token: str | None = None
    expires_at: str | None = None


@dataclass(frozen=True)
class AccountNoticeResult:
    message_id: str
    status: str


@workflow.defn(name=WORKFLOW_NAME)
class AccountNotice:
    """Send one account message.

    Steps: ``notifications.send(<kind>)`` with the idempotency key
    ``<workflow id>:notify:<kind>``, so retries deliver one message.
    Compensations: none (nothing to undo; a message that cannot be sent
    after every retry fails the workflow, visible in the Web UI).
    """

    @workflow.run
    async def run(self, params: AccountNoticeInput) -> AccountNoticeResult:
        context: dict[str, Any] = {"name": params.name, "username": params.username}
        if params.token is not None:
            context["token"] = params.token
        if params.expires_at is not None:
            context["expires_at"] = params.expires_at
        sent = await workflow.execute_activity_method(
            NotificationsActivities.send,
            SendMessage(template=params.kind, recipient=params.recipient, context=context),
            start_to_close_timeout=NOTICE_TIMEOUT,
            retry_policy=NOTICE_RETRY,
        )
        return AccountNoticeResult(message_id=sent.message_id, status=sent.status)
