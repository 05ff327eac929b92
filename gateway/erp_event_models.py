"""The gateway's shapes for the ERP's events: the partner webhook's body and answer, and the dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from common.erp_events import EVENT_ID_PATTERN

ErpEventType = Literal["SalesOrderStatusChanged", "StockChanged", "MaterialChanged", "CustomerChanged"]
ErpEventResult = Literal["applied", "duplicate", "stale", "dead_letter"]
#: An ERP event is one entity (a sales order with its items at most); anything larger is refused unread.
MAX_ERP_EVENT_BYTES = 32 * 1024
#: The longest page of ``GET /api/erp/dead-letters``; the deepest ``offset`` (both services are read from
#: their newest dead letter, so ``offset + limit`` is what each one is asked for).
MAX_DEAD_LETTERS_PAGE = 200
MAX_DEAD_LETTERS_OFFSET = 800


class ErpEvent(BaseModel):
    """One event the ERP posts to ``/api/webhooks/erp`` (signed, see ``common.webhooks``; docs/erp.md, part A)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "event_id": "0b6f7c9e-3f5e-4c1a-9d55-2f6d1b8e7a10",
                    "type": "StockChanged",
                    "object_id": "MUG-RED",
                    "occurred_at": "2027-01-12T10:15:00.000001Z",
                    "data": {
                        "Material": "MUG-RED",
                        "Plant": "1000",
                        "UnrestrictedStock": 120,
                        "LastChangedAt": "2027-01-12T10:15:00.000001Z",
                        "@odata.etag": 'W/"2"',
                    },
                }
            ]
        },
    )

    event_id: str = Field(pattern=EVENT_ID_PATTERN)
    type: ErpEventType
    #: The entity's key: the sales order number, the material (SKU) or the customer number.
    object_id: str = Field(min_length=1, max_length=100)
    occurred_at: AwareDatetime = Field(strict=False)
    #: The entity after the change, as the ERP's OData API shows it.
    data: dict[str, Any]


class ErpWebhookAck(BaseModel):
    """What the ERP gets back (every result is a 2xx, so it stops sending the event).

    ``applied``: it changed PakLog; ``duplicate``: delivered before; ``stale``: older than what PakLog
    already had; ``dead_letter``: about something PakLog does not know (kept for operators).
    """

    event_id: str
    result: ErpEventResult


class ErpEventAnswer(BaseModel):
    """A service's answer to an event (``status``: the first delivery's outcome)."""

    event_id: str
    type: str
    object_id: str
    result: ErpEventResult
    status: Literal["applied", "stale", "dead_letter"]
    reason: str | None = None


class SalesOrderEventAnswer(ErpEventAnswer):
    """The orders service's answer: ``signal`` until the order's workflow has the event (``forwarded``)."""

    order_id: str
    erp_status: str | None
    signal: bool
    forwarded: bool


class ErpEventRecord(BaseModel):
    """A recorded event, as a service lists it."""

    event_id: str
    type: str
    object_id: str
    occurred_at: datetime
    status: str
    reason: str | None
    received_at: datetime
    body: dict[str, Any]


class ErpEventPageRecord(BaseModel):
    items: list[ErpEventRecord]
    total: int
    limit: int
    offset: int


class DeadLetterView(BaseModel):
    """An ERP event about something PakLog does not know (or cannot apply), kept as it came."""

    #: The service that keeps it: ``orders`` (sales orders), ``inventory`` (materials and stock).
    source: Literal["orders", "inventory"]
    event_id: str
    type: str
    object_id: str
    occurred_at: datetime
    reason: str | None = Field(examples=["UnknownOrder", "UnknownMaterial", "StockBelowReserved"])
    received_at: datetime
    body: dict[str, Any]


class DeadLetterPage(BaseModel):
    """Dead letters of both services, newest received first; ``total``: all of them."""

    items: list[DeadLetterView]
    total: int
    limit: int
    offset: int
    next_cursor: str | None = Field(default=None, description="Always null: walk with offset")
