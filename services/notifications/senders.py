"""Delivery of rendered messages.

A :class:`Sender` delivers one message or raises; the caller records the
outcome. E-mail goes through :class:`SmtpSender` when ``PAKLOG_SMTP_HOST``
is set, else through :class:`LogSender`. Push messages always go through
:class:`LogSender`: PakLog has no push provider yet, so a push notification
is a structured log line that a log shipper (or a future provider adapter)
can pick up.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

from common.logging import get_logger
from services.notifications.models import Channel
from services.notifications.settings import NotificationsSettings


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What a sender needs to deliver one message."""

    message_id: str
    channel: Channel
    recipient: str
    subject: str
    body: str


class Sender(Protocol):
    async def send(self, message: Outgoing) -> None:
        """Deliver ``message``; raise on any failure."""


class LogSender:
    """Delivers by writing one structured log line (development, and every push message)."""

    def __init__(self) -> None:
        self._log = get_logger("paklog.notifications.sender")

    async def send(self, message: Outgoing) -> None:
        self._log.info(
            "notification_sent",
            message_id=message.message_id,
            channel=message.channel,
            recipient=message.recipient,
            subject=message.subject,
            body=message.body,
        )


class SmtpSender:
    """Submits e-mail to an SMTP server with the blocking stdlib client, in a worker thread.

    Args:
        host: SMTP server.
        port: Usually 587 (submission, STARTTLS) or 25.
        sender: The ``From`` address, e.g. ``PakLog <no-reply@example.com>``.
        starttls: Upgrade to TLS before anything else; a server without
            STARTTLS is then an error, never a silent plaintext fallback.
        username: Log in when given.
        password: Password for ``username``.
        timeout_seconds: Connect and per-command timeout.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int = 587,
        sender: str,
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.starttls = starttls
        self.username = username
        self.password = password
        self.timeout_seconds = timeout_seconds

    async def send(self, message: Outgoing) -> None:
        await asyncio.to_thread(self._send, self.email(message))

    def email(self, message: Outgoing) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.recipient
        email["Subject"] = message.subject
        # The stored message id lets anyone match a received mail to its row.
        email["Message-ID"] = make_msgid(idstring=message.message_id, domain="paklog")
        email.set_content(message.body)
        return email

    def _send(self, email: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(email)


def email_sender(settings: NotificationsSettings) -> Sender:
    """SMTP when ``smtp_host`` is configured, else the log."""
    if not settings.smtp_host:
        return LogSender()
    return SmtpSender(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        starttls=settings.smtp_starttls,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        timeout_seconds=settings.smtp_timeout_seconds,
    )


def build_senders(settings: NotificationsSettings) -> dict[Channel, Sender]:
    """One sender per channel; push has no provider, so it is logged."""
    return {Channel.EMAIL: email_sender(settings), Channel.PUSH: LogSender()}
