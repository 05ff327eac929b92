"""The warehouse workflows' contract: WaveRelease and PickPackShip inputs, updates, queries and results.

Kept apart from the workflow classes (like :mod:`workflows.order_types`) so
the gateway, the CLI and the worker import plain dataclasses, and the worker
passes this module through the sandbox once. See ``docs/warehouse-floor.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.common import RetryPolicy

from activities.orders import OrderLine, ShippingAddress

WAVE_WORKFLOW_NAME = "WaveRelease"
PPS_WORKFLOW_NAME = "PickPackShip"
#: The Temporal Schedule that starts a WaveRelease every interval (``PAKLOG_WAVE_INTERVAL_SECONDS``).
WAVE_SCHEDULE_ID = "wave-planner"

DEFAULT_MAX_ORDERS = 20
DEFAULT_MAX_LINES = 200

# Error types the updates' validators (and the steps) answer with; the gateway maps them to 409.
SCAN_MISMATCH = "ScanMismatch"
QUANTITY_EXCEEDS_TASK = "QuantityExceedsTask"
TASK_NOT_OPEN = "TaskNotOpen"
UNKNOWN_TASK = "UnknownTask"
NOT_PICKED = "NotPicked"
PACK_MISMATCH = "PackMismatch"
ALREADY_PACKED = "AlreadyPacked"
ILLEGAL_WAVE_TRANSITION = "IllegalWaveTransition"
ADDRESS_LOCKED = "AddressLocked"
NOTHING_TO_PLAN = "NothingToPlan"


def wave_workflow_id(wave_id: str) -> str:
    return f"wave-{wave_id}"


def pps_workflow_id(order_id: str) -> str:
    return f"pps-{order_id}"


# -- WaveRelease ------------------------------------------------------------------------
class WaveState:
    """A wave workflow's status: the service's wave statuses plus ``EMPTY`` (nothing waited)."""

    PLANNING = "PLANNING"
    PLANNED = "PLANNED"
    RELEASED = "RELEASED"
    PICKING = "PICKING"
    DONE = "DONE"
    CANCELLED = "CANCELLED"
    EMPTY = "EMPTY"


@dataclass(frozen=True)
class WaveReleaseInput:
    wave_id: str
    max_orders: int = DEFAULT_MAX_ORDERS
    max_lines: int = DEFAULT_MAX_LINES
    #: Release to the floor as soon as it is allocated (the schedule); else wait for the ``release`` update.
    auto_release: bool = False


@dataclass
class WaveStatus:
    """The ``status`` query and the answer of the wave's updates."""

    wave_id: str
    status: str
    order_ids: list[str] = field(default_factory=list)
    open: int = 0
    picked: int = 0
    short: int = 0
    shortages: int = 0


@dataclass(frozen=True)
class WaitForWaveStatus:
    statuses: list[str]


@dataclass(frozen=True)
class ReleaseWave:
    requested_by: str | None = None


@dataclass(frozen=True)
class RemoveOrderFromWave:
    order_id: str


@dataclass(frozen=True)
class TaskSettled:
    """Signal from a PickPackShip to its wave: a task was picked, short or cancelled."""

    task_id: str
    order_id: str
    status: str


@dataclass(frozen=True)
class WaveReleased:
    """Signal to an order's workflow: its wave is on the floor."""

    wave_id: str
    #: The wave's workflow id (a Schedule's run is ``wave-auto-<time>``, not ``wave-<wave_id>``).
    workflow_id: str = ""


# -- PickPackShip ------------------------------------------------------------------------
@dataclass(frozen=True)
class PickScan:
    """A scanner's confirmation of one pick task (update ``confirm_pick``); fewer units is a short pick."""

    task_id: str
    location: str
    sku: str
    lot: str
    quantity: int
    picker: str | None = None


@dataclass
class PickConfirmed:
    task_id: str
    status: str  # PICKED or SHORT
    picked_quantity: int
    short_quantity: int
    #: Tasks created to find the missing units elsewhere (empty when none was short or no bin had them).
    new_task_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PackItem:
    sku: str
    quantity: int


@dataclass(frozen=True)
class PackScan:
    """A packer's scan of the items going into the carton at a station (update ``pack``)."""

    station: str
    items: list[PackItem]
    packer: str | None = None


@dataclass
class PackResult:
    order_id: str
    status: str  # PACKED or SENT_BACK_TO_PICKING
    carton: str | None = None
    missing: list[PackItem] = field(default_factory=list)


@dataclass(frozen=True)
class OrderProgress:
    """Signal from PickPackShip to its OrderFulfillment parent: the order moved on."""

    status: str
    tracking_code: str | None = None
    carrier: str | None = None
    shipped_lines: list[PackItem] | None = None
    #: The goods have left the building: nothing can be undone any more.
    goods_issued: bool = False


@dataclass(frozen=True)
class PickPackShipInput:
    order_id: str
    wave_id: str
    customer_email: str
    currency: str
    lines: list[OrderLine]
    shipping_address: ShippingAddress
    service_level: str = "STANDARD"
    #: Where ``task_settled`` goes; empty: ``wave-<wave_id>``.
    wave_workflow_id: str = ""


@dataclass(frozen=True)
class PickPackShipResult:
    order_id: str
    status: str
    tracking_code: str | None
    carrier: str | None
    shipped_lines: list[PackItem]
    captured_cents: int


@dataclass(frozen=True)
class ChangeAddressRequest:
    """OrderFulfillment's update ``change_address`` (refused once the order is ``PACKED``)."""

    shipping_address: ShippingAddress
    requested_by: str | None = None


@dataclass(frozen=True)
class OperatorRetry:
    """Update ``retry`` of a PickPackShip waiting for an operator after goods issue."""

    requested_by: str | None = None


@dataclass
class PickPackShipStatus:
    order_id: str
    wave_id: str
    status: str
    tasks_open: int = 0
    tasks_picked: int = 0
    tasks_short: int = 0
    carton: str | None = None
    tracking_code: str | None = None
    carrier: str | None = None
    shipped_lines: list[PackItem] = field(default_factory=list)
    needs_operator: str | None = None


# Steps after goods issue must finish: transient errors retry for as long as it takes.
AFTER_ISSUE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=[
        "IllegalTransition",
        "ValidationError",
        "IdempotencyKeyReused",
        "PaymentVoided",
        "PaymentNotFound",
        "CaptureExceedsAuthorization",
        "PicksReturned",
        "ReservationNotActive",
    ],
)
