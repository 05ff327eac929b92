"""Notification models: every message we rendered, and whether it went out."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import CheckConstraint, Column, DateTime, Index, String, Text
from sqlmodel import Field, SQLModel

# Deliberately loose: deliverability is the mail server's business, not ours.
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"
_EMAIL = re.compile(EMAIL_PATTERN)


class Channel(StrEnum):
    EMAIL = "email"
    PUSH = "push"


class MessageStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


class MessageBase(SQLModel):
    channel: Channel = Field(sa_column=Column(String(16), nullable=False))
    recipient: str = Field(max_length=254)
    template: str = Field(max_length=64)
    order_id: str | None = Field(default=None, max_length=64)


class Message(MessageBase, table=True):
    """One rendered message: ``PENDING`` while it is handed over, then ``SENT`` or ``FAILED`` (with its error).

    A request with an ``Idempotency-Key`` has one message, whatever number of
    attempts it took: a retry after a failure reuses (and resends) the row.
    """

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'push')", name="message_channel"),
        CheckConstraint("status IN ('PENDING', 'SENT', 'FAILED')", name="message_status"),
        Index("ix_messages_recipient_created_at", "recipient", "created_at"),
        Index("ix_messages_order_id_created_at", "order_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=64)
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True)
    subject: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: MessageStatus = Field(sa_column=Column(String(16), nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class MessageCreate(BaseModel):
    """Render ``template`` with ``context`` and deliver it to ``recipient`` over ``channel``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    channel: Channel = PydanticField(strict=False)
    recipient: str = PydanticField(min_length=1, max_length=254)
    template: str = PydanticField(min_length=1, max_length=64)
    order_id: str | None = PydanticField(default=None, min_length=1, max_length=64)
    context: dict[str, Any] = PydanticField(default_factory=dict)

    @model_validator(mode="after")
    def _email_needs_an_address(self) -> MessageCreate:
        if self.channel == Channel.EMAIL and not _EMAIL.fullmatch(self.recipient):
            raise ValueError("an email recipient must be an e-mail address")
        return self


class MessagePublic(BaseModel):
    id: str
    channel: Channel
    recipient: str
    template: str
    order_id: str | None
    subject: str
    body: str
    status: MessageStatus
    error: str | None
    created_at: datetime
