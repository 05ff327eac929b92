"""AccountNotice in the time-skipping test server: one message, sent through transient failures, never twice."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.notifications import MessageSent, SendMessage
from tests.workflows.fakes import time_skipping_env
from workflows.account_notice import AccountNotice, AccountNoticeInput, workflow_id


@dataclass
class FakeNotifications:
    """``notifications.send`` under its real name: ``failures`` transient errors first, or a rejection."""

    failures: int = 0
    reject: str | None = None
    attempts: int = 0
    sent: list[tuple[SendMessage, str]] = field(default_factory=list)

    @activity.defn(name="notifications.send")
    async def send(self, params: SendMessage) -> MessageSent:
        self.attempts += 1
        if self.reject is not None:
            raise ApplicationError("refused", type=self.reject, non_retryable=True)
        if self.attempts <= self.failures:
            raise RuntimeError("notifications is restarting")
        self.sent.append((params, activity.info().workflow_id or ""))
        return MessageSent(message_id=f"m-{self.attempts}", status="SENT")


@asynccontextmanager
async def worker(client: Client, fake: FakeNotifications) -> AsyncIterator[str]:
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=[AccountNotice], activities=[fake.send]):
        yield task_queue


async def test_a_reset_code_is_sent_once_through_an_outage() -> None:
    fake = FakeNotifications(failures=2)
    notice = AccountNoticeInput(
        kind="password_reset",
        recipient="alice@example.com",
        name="Alice",
        username="alice",
        token="code-123",
        expires_at="2027-01-20 10:30 UTC",
    )
    async with time_skipping_env() as env, worker(env.client, fake) as tq:
        result = await env.client.execute_workflow(
            AccountNotice.run, notice, id=workflow_id("password_reset", "r-1"), task_queue=tq
        )
    assert (result.message_id, result.status, fake.attempts) == ("m-3", "SENT", 3)
    [(message, wf_id)] = fake.sent
    assert wf_id == "account-notice-password_reset-r-1"
    assert (message.template, message.recipient, message.order_id) == ("password_reset", "alice@example.com", None)
    assert message.context == {
        "name": "Alice",
        "username": "alice",
        "token": "code-123",
        "expires_at": "2027-01-20 10:30 UTC",
    }


async def test_a_welcome_carries_no_code() -> None:
    fake = FakeNotifications()
    notice = AccountNoticeInput(kind="welcome", recipient="bob@example.com", name="Bob", username="bob")
    async with time_skipping_env() as env, worker(env.client, fake) as tq:
        await env.client.execute_workflow(AccountNotice.run, notice, id=workflow_id("welcome", "u-1"), task_queue=tq)
    [(message, _)] = fake.sent
    assert (message.template, message.context) == ("welcome", {"name": "Bob", "username": "bob"})


async def test_a_refused_message_fails_the_workflow_without_retrying() -> None:
    fake = FakeNotifications(reject="UnknownTemplate")
    notice = AccountNoticeInput(kind="welcome", recipient="bob@example.com", name="Bob", username="bob")
    async with time_skipping_env() as env, worker(env.client, fake) as tq:
        with pytest.raises(WorkflowFailureError):
            await env.client.execute_workflow(
                AccountNotice.run, notice, id=workflow_id("welcome", "u-2"), task_queue=tq
            )
    assert fake.attempts == 1
