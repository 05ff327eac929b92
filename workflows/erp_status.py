"""OrderFulfillment's ``erp_status`` signal: what the ERP says about the order's sales order (docs/erp.md, part C).

The gateway's ERP webhook signals ``order-<id>`` once the orders service has
applied a ``SalesOrderStatusChanged`` (``{"event_id", "status",
"occurred_at"}``). The workflow handles each event id once and keeps the
newest status; what it does with it is behind :data:`PATCH_ERP_STATUS`:

* ``CANCELLED`` before ``PICKING``: the order is cancelled ``ERP_REJECTED``
  (requested by :data:`ERP_REQUESTER`) and compensated like any cancel;
  later it is recorded and ignored, as a customer's cancel would be refused.
* ``CREDIT_HOLD`` before the order is waved: it is taken out of the wave
  backlog (``warehouse.hold``) until a newer status lifts the hold
  (``RELEASED``; the ERP itself lifts a credit hold by setting the order
  ``OPEN`` again, so any status but ``CREDIT_HOLD`` and ``CANCELLED`` does),
  then put back (``warehouse.requeue``) in its old place. A hold that comes
  after the wave took the order is recorded and ignored.
* ``OPEN`` and ``COMPLETED`` are recorded only.

Kept apart from ``order_types.py`` so the ERP's vocabulary stays in one place;
everything here is immutable and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import RetryPolicy

#: The signal's name (the gateway sends it by name).
ERP_STATUS_SIGNAL = "erp_status"
#: The query that shows what the workflow knows of the ERP's status.
ERP_STATE_QUERY = "erp"
#: Acting on the ERP's status (a cancel, a credit hold) changes the workflow's commands; a history
#: recorded before that (where such a signal could not even be delivered) replays as it was.
PATCH_ERP_STATUS = "erp-status"
#: Who an ``ERP_REJECTED`` cancel is recorded as.
ERP_REQUESTER = "erp"
CANCELLED = "CANCELLED"
CREDIT_HOLD = "CREDIT_HOLD"
#: What the warehouse answers for an order that a hold put aside.
HELD = "HELD"

# The hold and its requeue must eventually happen (a held order no wave can take must come back):
# retried until the warehouse answers, unless the answer says it never can.
HOLD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=0,
    non_retryable_error_types=["BacklogNotFound", "ValidationError", "IdempotencyKeyReused"],
)
HOLD_TIMEOUT = timedelta(seconds=10)


@dataclass(frozen=True)
class ErpStatusEvent:
    """The ``erp_status`` signal: one applied ``SalesOrderStatusChanged``."""

    event_id: str
    #: The sales order's ``OverallStatus`` (``OPEN``, ``CREDIT_HOLD``, ``CANCELLED``, ``COMPLETED``, ``RELEASED``).
    status: str
    #: ISO 8601 with an offset: the ERP's ``LastChangedAt`` of that status.
    occurred_at: str


@dataclass
class ErpOrderState:
    """What the ``erp`` query answers."""

    #: The newest status the ERP reported (null: none yet) and its time.
    status: str | None = None
    occurred_at: str | None = None
    #: The ERP holds the order's credit; ``held``: the warehouse has it aside right now.
    on_hold: bool = False
    held: bool = False
    #: Credit holds the warehouse carried out so far (each hold and requeue is keyed by its number).
    holds: int = 0
