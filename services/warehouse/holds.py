"""Credit holds: an order kept out of every wave while the ERP holds it, then waiting again (docs/erp.md, part C).

When the ERP puts an accepted order's sales order on ``CREDIT_HOLD`` before
the order is waved, OrderFulfillment takes it out of the backlog (``hold``)
and, once the ERP releases it, puts it back (``requeue``). Unlike a
withdraw, which is final (a late enqueue meets its tombstone), a hold is
undone: the order keeps its place (placed time, cutoff, priority), so it is
planned as if it had waited all along.

* ``hold``: a ``WAITING`` order becomes ``HELD``; a ``PLANNED`` one leaves its
  wave first (its tasks cancelled, as a withdraw does); a ``HELD`` one stays
  so (a repeat). Too late once its wave is ``RELEASED`` (409
  ``OrderReleased``: the floor has it) or after a withdraw (409
  ``OrderWithdrawn``).
* ``requeue``: a ``HELD`` order is ``WAITING`` again; any other state but
  ``WITHDRAWN`` (409 ``OrderWithdrawn``) is answered as it is.

The planner takes only ``WAITING`` orders, so a held order is in no plan.
"""

from __future__ import annotations

from datetime import UTC, datetime

from common.errors import Conflict, NotFound
from services.warehouse.models import BacklogState, BacklogStatus
from services.warehouse.repository import WarehouseRepository

# The backlog's lock order (the wave, then the order) and the task undo are the withdraw's own.
from services.warehouse.service import _lock_order_and_wave, cancel_tasks


def _not_found(order_id: str) -> NotFound:
    return NotFound(f"order {order_id} is not in the backlog", type="BacklogNotFound")


def _withdrawn(order_id: str) -> Conflict:
    return Conflict(f"order {order_id} was withdrawn from the warehouse", type="OrderWithdrawn")


async def hold(repo: WarehouseRepository, order_id: str) -> BacklogState:
    """Keep the order out of every wave (see the module docstring). Call inside the route's transaction.

    Raises:
        NotFound: ``BacklogNotFound`` (never enqueued, or only a tombstone stands).
        Conflict: ``OrderReleased``, ``OrderWithdrawn``.
    """
    now = datetime.now(UTC)
    order, wave = await _lock_order_and_wave(repo, order_id)
    if order is None or order.placed_at is None:
        raise _not_found(order_id)
    if order.status == BacklogStatus.HELD:
        return BacklogState(order_id=order_id, status=order.status)
    if order.status == BacklogStatus.WITHDRAWN:
        raise _withdrawn(order_id)
    if order.status == BacklogStatus.RELEASED:
        raise Conflict(f"order {order_id} is in released wave {order.wave_id}", type="OrderReleased")
    if order.status == BacklogStatus.PLANNED and wave is not None:
        await cancel_tasks(repo, await repo.tasks_of_order(order_id, for_update=True), now)
        await repo.remove_wave_order(wave.wave_id, order_id)
        order.wave_id = None
    order.status, order.updated_at = BacklogStatus.HELD, now
    await repo.save(order)
    return BacklogState(order_id=order_id, status=order.status)


async def requeue(repo: WarehouseRepository, order_id: str) -> BacklogState:
    """A held order waits for a wave again (see the module docstring). Call inside the route's transaction.

    Raises:
        NotFound: ``BacklogNotFound``.
        Conflict: ``OrderWithdrawn``.
    """
    order = await repo.get_backlog(order_id, for_update=True)
    if order is None or order.placed_at is None:
        raise _not_found(order_id)
    if order.status == BacklogStatus.WITHDRAWN:
        raise _withdrawn(order_id)
    if order.status == BacklogStatus.HELD:
        order.status, order.updated_at = BacklogStatus.WAITING, datetime.now(UTC)
        await repo.save(order)
    return BacklogState(order_id=order_id, status=order.status)
