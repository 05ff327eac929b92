"""Render, record, deliver, record the outcome: the mail server is never called inside a transaction.

The route runs :func:`send_message` through the phased ``Idempotency-Key``
helper. The message is recorded ``PENDING`` under the request's key and
committed; then it is handed to the sender with no connection held; then
its outcome is recorded. A success is the stored answer, replayed to a
repeat of the step. A failure is recorded on the message and answered 503
``DeliveryFailed``: the key is released, Temporal retries the step, and the
retry resends the same message (same id) and turns it ``SENT``. Delivery is
at least once; SMTP offers nothing stronger.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from common.errors import Unavailable
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
    repo: NotificationsRepository, senders: Mapping[Channel, Sender], data: MessageCreate, key: str | None
) -> MessagePublic:
    """Render ``data.template``, record the message, deliver it, and record ``SENT`` or ``FAILED``.

    Args:
        repo: Its session opens the two short transactions.
        senders: One per channel.
        data: The request.
        key: The request's ``Idempotency-Key``; its message is reused by every retry.

    Raises:
        RuleViolation: ``UnknownTemplate``; nothing is sent or stored.
        Unavailable: ``DeliveryFailed``; recorded on the message, retry later.
    """
    rendered = templates.render(data.template, data.context)
    draft = Message(
        id=uuid.uuid4().hex,
        idempotency_key=key,
        channel=data.channel,
        recipient=data.recipient,
        template=data.template,
        order_id=data.order_id,
        subject=rendered.subject,
        body=rendered.body,
        status=MessageStatus.PENDING,
        created_at=datetime.now(UTC),
    )
    async with repo.session.begin():
        message = await repo.add_for_key(draft) if key is not None else draft
        if key is None:
            await repo.add(message)
    if message.status == MessageStatus.SENT:  # sent before, but the answer was never stored
        return message_public(message)
    outgoing = Outgoing(message.id, message.channel, message.recipient, message.subject, message.body)
    status, error = MessageStatus.SENT, None
    try:
        await senders[data.channel].send(outgoing)
    # Any delivery failure (refused connection, TLS, auth, rejected recipient ...) is
    # recorded on the message and answered as retryable; it is never the final answer.
    except Exception as exc:
        status, error = MessageStatus.FAILED, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
        log.warning("notification_failed", message_id=message.id, channel=data.channel, error=error)
    async with repo.session.begin():
        await repo.set_outcome(message, status, error)
    if status == MessageStatus.FAILED:
        raise Unavailable(f"message {message.id} was not delivered: {error}", type="DeliveryFailed")
    return message_public(message)
