"""Render, deliver, record: one stored message per request, whatever the sender did.

The route runs :func:`send_message` inside its ``Idempotency-Key``
transaction, so a repeated step of a workflow (same key) is answered from
the stored response and the customer gets the message once. Delivery
happens before commit: a crash in between rolls the key back and the retry
delivers again (at least once; SMTP offers nothing stronger).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from common.logging import get_logger
from services.notifications import templates
from services.notifications.models import Channel, Message, MessageCreate, MessagePublic, MessageStatus
from services.notifications.repository import NotificationsRepository
from services.notifications.senders import Outgoing, Sender

MAX_ERROR_LENGTH = 1000

log = get_logger("paklog.notifications")


def message_public(message: Message) -> MessagePublic:
    return MessagePublic.model_validate(message, from_attributes=True)


async def send_message(
    repo: NotificationsRepository, senders: Mapping[Channel, Sender], data: MessageCreate
) -> Message:
    """Render ``data.template``, deliver it, and store the message as ``SENT`` or ``FAILED``.

    Raises:
        RuleViolation: ``UnknownTemplate``; nothing is sent or stored.
    """
    rendered = templates.render(data.template, data.context)
    message_id = uuid.uuid4().hex
    outgoing = Outgoing(
        message_id=message_id,
        channel=data.channel,
        recipient=data.recipient,
        subject=rendered.subject,
        body=rendered.body,
    )
    status, error = MessageStatus.SENT, None
    try:
        await senders[data.channel].send(outgoing)
    # Any delivery failure (refused connection, TLS, auth, rejected recipient ...)
    # is recorded on the message instead of failing the request: it is stored, not lost.
    except Exception as exc:
        status, error = MessageStatus.FAILED, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
        log.warning("notification_failed", message_id=message_id, channel=data.channel, error=error)
    message = Message(
        id=message_id,
        channel=data.channel,
        recipient=data.recipient,
        template=data.template,
        order_id=data.order_id,
        subject=rendered.subject,
        body=rendered.body,
        status=status,
        error=error,
        created_at=datetime.now(UTC),
    )
    await repo.add(message)
    return message
