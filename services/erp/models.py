"""Wire models of the ERP stand-in (SAP's OData field names, not PakLog's).

The entity models describe the answers in the OpenAPI document; the routes
serialise rows straight to JSON (``entities.py``) so a page of 1,000 rows
costs no model validation. The input models validate what callers send.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.errors import DomainError

#: Material numbers are PakLog SKUs (one identifier, no mapping table).
MATERIAL_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,63}$"
#: Customer and sales order numbers: ten digits.
NUMBER_PATTERN = r"^[0-9]{10}$"
PURCHASE_ORDER_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
#: Decimal strings as SAP sends them: a weight or volume with up to 3 places, an amount with up to 2.
QUANTITY_PATTERN = r"^[0-9]{1,9}(\.[0-9]{1,3})?$"
AMOUNT_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,189}$"


class ErpInternalError(DomainError):
    """500 ``ErpInternalError``: the injected failure of a read (``fail_rate``)."""

    status_code = 500
    default_type = "ErpInternalError"


class PreconditionRequired(DomainError):
    status_code = 428
    default_type = "PreconditionRequired"


class PreconditionFailed(DomainError):
    status_code = 412
    default_type = "PreconditionFailed"


def ean_check_digit(twelve: str) -> str:
    """The EAN-13 check digit of its first twelve digits (weights 1, 3, 1, 3, … from the left)."""
    total = sum(int(digit) * (3 if i % 2 else 1) for i, digit in enumerate(twelve))
    return str((10 - total % 10) % 10)


def is_ean13(value: str) -> bool:
    """Thirteen digits whose last is the check digit of the others."""
    return len(value) == 13 and value.isdigit() and ean_check_digit(value[:12]) == value[12]


class SalesOrderStatus(StrEnum):
    OPEN = "OPEN"
    CREDIT_HOLD = "CREDIT_HOLD"
    CANCELLED = "CANCELLED"
    COMPLETED = "COMPLETED"


# -- entities (documentation of the answers) ---------------------------------------


class _Entity(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    LastChangedAt: datetime = Field(description="Set by the ERP on every change; unique and increasing across it")
    etag: str = Field(alias="@odata.etag", description='W/"<version>"', examples=['W/"1"'])


class Material(_Entity):
    Material: str = Field(pattern=MATERIAL_PATTERN)
    MaterialDescription: str = Field(max_length=200)
    BaseUnit: str = Field(examples=["EA"])
    GrossWeight: str = Field(examples=["0.350"])
    WeightUnit: str = Field(examples=["KG"])
    Volume: str = Field(examples=["1.200"])
    VolumeUnit: str = Field(examples=["L"])
    InternationalArticleNumber: str = Field(pattern=r"^[0-9]{13}$")
    Price: str = Field(examples=["12.00"])
    Currency: str = Field(examples=["EUR"])


class Customer(_Entity):
    Customer: str = Field(pattern=NUMBER_PATTERN)
    CustomerName: str
    EmailAddress: str
    StreetName: str
    CityName: str
    PostalCode: str
    Country: str
    DeliveryIsBlocked: bool
    CreditIsBlocked: bool


class MaterialStock(_Entity):
    Material: str = Field(pattern=MATERIAL_PATTERN)
    Plant: str = Field(examples=["1000"])
    UnrestrictedStock: int = Field(ge=0)


class SalesOrderItem(BaseModel):
    Material: str = Field(pattern=MATERIAL_PATTERN)
    RequestedQuantity: int
    NetPrice: str = Field(description="Per unit", examples=["12.00"])


class SalesOrder(_Entity):
    SalesOrder: str = Field(pattern=NUMBER_PATTERN)
    PurchaseOrderByCustomer: str
    SoldToParty: str
    CustomerEmail: str
    Currency: str
    TotalNetAmount: str = Field(examples=["24.00"])
    OverallStatus: SalesOrderStatus
    Items: list[SalesOrderItem]


class _Page(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    next_link: str | None = Field(default=None, alias="@odata.nextLink", description="Absent on the last page")
    count: int | None = Field(default=None, alias="@odata.count", description="With $count=true")


class MaterialPage(_Page):
    value: list[Material]


class CustomerPage(_Page):
    value: list[Customer]


class MaterialStockPage(_Page):
    value: list[MaterialStock]


class SalesOrderPage(_Page):
    value: list[SalesOrder]


# -- changes -----------------------------------------------------------------------


class _Patch(BaseModel):
    """A PATCH body: the fields to change. Unknown (or read-only) fields are a 400, not ignored."""

    # extra="allow" only so the route can answer 400 UnknownField (as OData does) instead of a 422;
    # the schema still says no other property is allowed.
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})

    def unknown_fields(self) -> list[str]:
        return sorted(self.model_extra or {})


class MaterialPatch(_Patch):
    MaterialDescription: str | None = Field(default=None, min_length=1, max_length=200)
    BaseUnit: str | None = Field(default=None, pattern=r"^[A-Z]{1,3}$")
    GrossWeight: str | None = Field(default=None, pattern=QUANTITY_PATTERN)
    WeightUnit: str | None = Field(default=None, pattern=r"^[A-Z]{1,3}$")
    Volume: str | None = Field(default=None, pattern=QUANTITY_PATTERN)
    VolumeUnit: str | None = Field(default=None, pattern=r"^[A-Z]{1,3}$")
    InternationalArticleNumber: str | None = Field(default=None, pattern=r"^[0-9]{13}$")
    Price: str | None = Field(default=None, pattern=AMOUNT_PATTERN)
    Currency: str | None = Field(default=None, pattern=CURRENCY_PATTERN)

    @model_validator(mode="after")
    def _valid_ean(self) -> MaterialPatch:
        if self.InternationalArticleNumber is not None and not is_ean13(self.InternationalArticleNumber):
            raise ValueError("InternationalArticleNumber: the EAN-13 check digit is wrong")
        return self


class CustomerPatch(_Patch):
    CustomerName: str | None = Field(default=None, min_length=1, max_length=200)
    EmailAddress: str | None = Field(default=None, pattern=EMAIL_PATTERN)
    StreetName: str | None = Field(default=None, max_length=200)
    CityName: str | None = Field(default=None, max_length=100)
    PostalCode: str | None = Field(default=None, max_length=20)
    Country: str | None = Field(default=None, pattern=COUNTRY_PATTERN)
    DeliveryIsBlocked: bool | None = None
    CreditIsBlocked: bool | None = None


class MaterialStockPatch(_Patch):
    UnrestrictedStock: int | None = Field(default=None, ge=0, le=2_000_000_000)


class SalesOrderPatch(_Patch):
    OverallStatus: SalesOrderStatus | None = None


class SalesOrderItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    Material: str = Field(pattern=MATERIAL_PATTERN)
    RequestedQuantity: int = Field(ge=1, le=1_000_000)
    #: Per unit; left out, the material's current price.
    NetPrice: str | None = Field(default=None, pattern=AMOUNT_PATTERN)


class SalesOrderCreate(BaseModel):
    """A sales order from PakLog: created exactly once per ``PurchaseOrderByCustomer``."""

    model_config = ConfigDict(extra="forbid")

    PurchaseOrderByCustomer: str = Field(pattern=PURCHASE_ORDER_PATTERN)
    SoldToParty: str | None = Field(default=None, pattern=NUMBER_PATTERN)
    CustomerEmail: str = Field(pattern=EMAIL_PATTERN)
    Currency: str = Field(pattern=CURRENCY_PATTERN)
    Items: list[SalesOrderItemIn] = Field(min_length=1, max_length=200)


# -- control -----------------------------------------------------------------------


class Knobs(BaseModel):
    """Faults injected into the ERP (see docs/erp.md, "Control")."""

    #: Every /odata call answers 503 ErpUnavailable.
    outage: bool = False
    #: Every /odata call waits this long first.
    slow_seconds: float = Field(default=0.0, ge=0.0, le=30.0)
    #: This share of /odata reads answers 500 ErpInternalError.
    fail_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    #: This share of events is posted twice (the same bytes).
    duplicate_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    #: Events are posted newest-first within each batch.
    reorder: bool = False


class KnobsIn(BaseModel):
    """Change some knobs; fields left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    outage: bool | None = None
    slow_seconds: float | None = Field(default=None, ge=0.0, le=30.0)
    fail_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    duplicate_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    reorder: bool | None = None


class OutboxCounts(BaseModel):
    pending: int = 0
    delivered: int = 0
    rejected: int = 0


class Control(Knobs):
    """The knobs, where the events go and how many are in each state."""

    webhook_url: str | None
    outbox: OutboxCounts


class CreditBlockIn(BaseModel):
    """Set ``CreditIsBlocked`` of one customer, named by number or by e-mail (case-insensitive)."""

    model_config = ConfigDict(extra="forbid")

    customer: str | None = Field(default=None, pattern=NUMBER_PATTERN)
    email: str | None = Field(default=None, pattern=EMAIL_PATTERN)
    blocked: bool

    @model_validator(mode="after")
    def _one_customer(self) -> CreditBlockIn:
        if (self.customer is None) == (self.email is None):
            raise ValueError("name the customer by exactly one of 'customer' or 'email'")
        return self


class CustomerList(BaseModel):
    value: list[Customer]


class EventStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    REJECTED = "rejected"


class OutboxEvent(BaseModel):
    """One event of the outbox: what was (or will be) posted, and how the webhook answered.

    ``answer_status``/``answer`` are the last answer's HTTP status and text (truncated), or a
    connection error's text (status None); ``next_attempt_at`` is when a pending event that
    failed is tried again (None: not tried yet, or settled).
    """

    id: int
    event_id: str
    type: str
    object_id: str
    occurred_at: datetime
    status: EventStatus
    attempts: int
    #: Posted twice, the same bytes (``duplicate_rate``).
    duplicated: bool
    answer_status: int | None
    answer: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    #: The event exactly as posted (the body the signature covers), parsed.
    body: dict[str, Any]
