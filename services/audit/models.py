"""Audit records: what the gateway sends (``AuditRecordCreate``), what is stored and what is read back."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import BigInteger, Column, DateTime, SmallInteger
from sqlmodel import Field, SQLModel

DIGEST_PATTERN = r"^[0-9a-f]{64}$"
RECORD_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
#: The most records one append may carry.
MAX_BATCH = 1000


class AuditRecordBase(SQLModel):
    """One gateway call: who, what, the outcome, and digests of the bodies (never the bodies)."""

    record_id: str = Field(max_length=64, unique=True)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    actor: str | None = Field(default=None, max_length=254)
    actor_id: str | None = Field(default=None, max_length=64)
    role: str | None = Field(default=None, max_length=32)
    client: str | None = Field(default=None, max_length=64)
    method: str = Field(max_length=16)
    path: str = Field(max_length=2048)
    route: str | None = Field(default=None, max_length=512)
    status: int = Field(sa_column=Column(SmallInteger, nullable=False))
    request_id: str | None = Field(default=None, max_length=64)
    workflow_id: str | None = Field(default=None, max_length=200)
    order_id: str | None = Field(default=None, max_length=64)
    request_digest: str | None = Field(default=None, max_length=64)
    response_digest: str | None = Field(default=None, max_length=64)


class AuditRecord(AuditRecordBase, table=True):
    """A link of the chain (services.audit.chain); the runtime role may insert and read it, nothing else."""

    __tablename__ = "audit_records"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditRecordCreate(BaseModel):
    """One call as the gateway saw it; ``record_id`` (gateway-assigned, unique) makes a resent batch harmless."""

    model_config = ConfigDict(extra="forbid")

    record_id: str = PydanticField(pattern=RECORD_ID_PATTERN)
    at: AwareDatetime
    actor: str | None = PydanticField(default=None, min_length=1, max_length=254)
    actor_id: str | None = PydanticField(default=None, min_length=1, max_length=64)
    role: str | None = PydanticField(default=None, min_length=1, max_length=32)
    client: str | None = PydanticField(default=None, min_length=1, max_length=64)
    method: str = PydanticField(pattern=r"^[A-Z]{1,16}$")
    path: str = PydanticField(min_length=1, max_length=2048)
    route: str | None = PydanticField(default=None, min_length=1, max_length=512)
    status: int = PydanticField(ge=100, le=599)
    request_id: str | None = PydanticField(default=None, min_length=1, max_length=64)
    workflow_id: str | None = PydanticField(default=None, min_length=1, max_length=200)
    order_id: str | None = PydanticField(default=None, min_length=1, max_length=64)
    request_digest: str | None = PydanticField(default=None, pattern=DIGEST_PATTERN)
    response_digest: str | None = PydanticField(default=None, pattern=DIGEST_PATTERN)


class AppendBatch(BaseModel):
    """Records to append, in the order they happened."""

    model_config = ConfigDict(extra="forbid")

    items: list[AuditRecordCreate] = PydanticField(min_length=1, max_length=MAX_BATCH)


class AppendResult(BaseModel):
    appended: int = PydanticField(description="Records new to the chain")
    duplicates: int = PydanticField(description="Records whose record_id the chain already held (a resent batch)")
    head_seq: int
    head_hash: str


class AuditRecordPublic(AuditRecordBase):
    seq: int
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    """A page of the trail, newest first unless ``oldest_first``."""

    items: list[AuditRecordPublic]
    total: int
    limit: int
    offset: int
    #: The cursor of the next page (in the same order); ``None`` on the last one.
    next_cursor: str | None = None
