"""Render, record, deliver, record the outcome: the mail server is never called inside a transaction.

The route runs :func:`send_message` through the phased ``Idempotency-Key``
helper. The message is recorded ``PENDING`` under the request's key and
committed with the key's claim; then it is handed to the sender with no
connection held; then its outcome is recorded (a success with the answer). A success is the stored answer, replayed to a
repeat of the step. A failure is recorded on the message and answered 503
``DeliveryFailed``: the key is released, Temporal retries the step, and the
retry resends the same message (same id) and turns it ``SENT``. Delivery is
at least once; SMTP offers nothing stronger.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from asyncpg import Record

from common.errors import Unavailable
from common.idempotency import Phases
from common.logging import get_logger
from services.notifications import templates
from services.notifications.models import Channel, Message, MessageCreate, MessagePublic, MessageStatus
from services.notifications.repository import NotificationsRepository
from services.notifications.senders import Outgoing, Sender

MAX_ERROR_LENGTH = 1000

log = get_logger("paklog.notifications")


def message_public(message: Message) -> MessagePublic:
    return MessagePublic.model_validate(message, from_attributes=True)


def row_public(row: Record) -> MessagePublic:
    """The answer for a message row (:mod:`services.notifications.repository`'s ``COLUMNS``)."""
    return MessagePublic.model_validate(dict(row))


async def send_message(
    repo: NotificationsRepository,
    senders: Mapping[Channel, Sender],
    data: MessageCreate,
    key: str | None,
    phases: Phases,
) -> MessagePublic:
    """Render ``data.template``, record the message, deliver it, and record ``SENT`` or ``FAILED``.

    Args:
        repo: Its session runs the statements.
        senders: One per channel.
        data: The request.
        key: The request's ``Idempotency-Key``; its message is reused by every retry.
        phases: Opens the two short transactions (the first claims the key, the last stores the answer).

    Raises:
        RuleViolation: ``UnknownTemplate``; nothing is sent or stored.
        Unavailable: ``DeliveryFailed``; recorded on the message, retry later.
    """
    async with phases.transaction():
        rendered = templates.render(data.template, data.context)
        message = await repo.record(
            message_id=uuid.uuid4().hex,
            key=key,
            channel=data.channel.value,
            recipient=data.recipient,
            template=data.template,
            order_id=data.order_id,
            subject=rendered.subject,
            body=rendered.body,
            created_at=datetime.now(UTC),
        )
    message_id = message["id"]
    if message["status"] == MessageStatus.SENT:  # sent before, but the answer was never stored
        return row_public(message)
    outgoing = Outgoing(
        message_id, Channel(message["channel"]), message["recipient"], message["subject"], message["body"]
    )
    try:
        await senders[data.channel].send(outgoing)
    # Any delivery failure (refused connection, TLS, auth, rejected recipient ...) is
    # recorded on the message and answered as retryable; it is never the final answer.
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
        log.warning("notification_failed", message_id=message_id, channel=data.channel, error=error)
        async with repo.session.begin():
            await repo.set_status(message_id, MessageStatus.FAILED, error)
        raise Unavailable(f"message {message_id} was not delivered: {error}", type="DeliveryFailed") from None
    return await phases.last(lambda: _sent(repo, message_id))


async def _sent(repo: NotificationsRepository, message_id: str) -> MessagePublic:
    sent = await repo.set_status(message_id, MessageStatus.SENT, None)
    assert sent is not None  # messages are never deleted
    return row_public(sent)
