"""Stock rules: all-or-nothing reservations that keep ``on_hand = available + reserved``.

Concurrency lives in the database: stock moves with a conditional
``UPDATE ... WHERE available >= :qty`` (so two orders racing for the last
unit cannot both win), reservation state changes under ``SELECT ... FOR
UPDATE``, and SKUs are touched in sorted order so concurrent multi-line
reservations cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from common.errors import Conflict, NotFound, RuleViolation
from services.inventory.models import (
    AdjustIn,
    LineIn,
    Product,
    ProductPublic,
    ProductUpsert,
    ReservationLinePublic,
    ReservationPublic,
    ReservationStatus,
    ReturnIn,
    StockTotal,
    WriteOffIn,
)
from services.inventory.repository import InventoryRepository, held_lines


def product_public(product: Product) -> ProductPublic:
    return ProductPublic.model_validate(product, from_attributes=True)


def merge_lines(lines: Iterable[LineIn | AdjustIn]) -> dict[str, int]:
    """Sum quantities per SKU, in SKU order (the lock order)."""
    merged: dict[str, int] = {}
    for line in lines:
        merged[line.sku] = merged.get(line.sku, 0) + line.quantity
    return dict(sorted(merged.items()))


async def upsert_product(repo: InventoryRepository, sku: str, data: ProductUpsert) -> Product:
    product = await repo.get_product(sku, for_update=True)
    now = datetime.now(UTC)
    if product is None:
        product = Product(
            sku=sku,
            name=data.name,
            price_cents=data.price_cents,
            currency=data.currency,
            on_hand=data.on_hand,
            available=data.on_hand,
            reserved=0,
            weight_grams=data.weight_grams or 0,
            volume_cm3=data.volume_cm3 or 0,
            updated_at=now,
        )
    else:
        if data.on_hand < product.reserved:
            raise Conflict(
                f"cannot set on_hand of {sku} to {data.on_hand}: {product.reserved} units are reserved",
                type="StockBelowReserved",
            )
        product.name, product.price_cents, product.currency = data.name, data.price_cents, data.currency
        product.on_hand, product.available, product.updated_at = data.on_hand, data.on_hand - product.reserved, now
        if data.weight_grams is not None:
            product.weight_grams = data.weight_grams
        if data.volume_cm3 is not None:
            product.volume_cm3 = data.volume_cm3
    repo.session.add(product)
    await repo.session.flush()
    return product


def _answer(order_id: str, status: ReservationStatus, lines: dict[str, int]) -> ReservationPublic:
    return ReservationPublic(
        order_id=order_id,
        status=status,
        lines=[ReservationLinePublic(sku=sku, quantity=q) for sku, q in lines.items()],
    )


async def _public(repo: InventoryRepository, order_id: str, status: ReservationStatus) -> ReservationPublic:
    return _answer(order_id, status, await repo.reservation_lines(order_id))


def _unheld(order_id: str) -> ReservationPublic:
    """A release's answer when nothing is held (a tombstone stands, or every line was written off)."""
    return ReservationPublic(order_id=order_id, status=None, lines=[])


async def reserve(repo: InventoryRepository, order_id: str, lines: list[LineIn]) -> ReservationPublic:
    """Hold every line for ``order_id`` or nothing.

    One statement claims the header and takes the stock (SKU order, conditional
    update); an unknown SKU or a short line raises, and the caller's unit of
    work rolls everything back. The answer is the input: what was just held.

    Raises:
        RuleViolation: ``UnknownSku`` for a SKU the catalogue does not have.
        Conflict: ``OutOfStock`` when a line cannot be covered;
            ``ReservationMismatch`` when the order already holds different lines;
            ``ReservationReleased`` when the order's reservation was released (or
            released before it was made): a late reserve never outlives its release.
    """
    wanted = merge_lines(lines)
    outcome = await repo.reserve(order_id, wanted, datetime.now(UTC))
    if not outcome["claimed"]:
        existing = await repo.reservation(order_id)
        assert existing is not None
        if existing["status"] == ReservationStatus.RELEASED:
            raise Conflict(f"reservation of order {order_id} was released", type="ReservationReleased")
        held = held_lines(existing)
        if held != wanted:
            raise Conflict(f"order {order_id} already holds a different reservation", type="ReservationMismatch")
        return _answer(order_id, ReservationStatus(existing["status"]), held)
    if unknown := outcome["unknown"]:
        raise RuleViolation(f"unknown SKU: {', '.join(unknown)}", type="UnknownSku", extra={"skus": unknown})
    if (sku := outcome["short_sku"]) is not None:
        quantity, available = wanted[sku], outcome["short_available"]
        raise Conflict(
            f"not enough {sku}: {quantity} wanted, {available} available",
            type="OutOfStock",
            extra={"sku": sku, "requested": quantity, "available": available},
        )
    return _answer(order_id, ReservationStatus.ACTIVE, wanted)


#: Rounds of :func:`release` against reserves committing under it; ACTIVE is left once, so two suffice.
_RELEASE_ROUNDS = 3


async def release(repo: InventoryRepository, order_id: str) -> ReservationPublic:
    """Give the held stock back. Nothing held (or already released) is success, with ``status: null``.

    With nothing held, a RELEASED header without lines is left as a tombstone,
    so a reserve that arrives late (its client timed out long ago) is refused.
    The header's primary key settles the race with a reserve in flight: the
    insert waits for it, and a reserve that committed first is released here.

    Raises:
        Conflict: ``ReservationCommitted`` when the goods already left the warehouse.
    """
    now = datetime.now(UTC)
    for _ in range(_RELEASE_ROUNDS):
        outcome = await repo.release(order_id, now)
        if outcome["tombstone"]:
            return _unheld(order_id)
        if outcome["released"]:
            held = await repo.return_held(order_id, now)
            return _answer(order_id, ReservationStatus.RELEASED, held) if held else _unheld(order_id)
        # Not ACTIVE, or a reserve committed while the release waited on its header: look again.
        existing = await repo.reservation(order_id)
        assert existing is not None
        if existing["status"] != ReservationStatus.ACTIVE:
            break
    else:
        raise Conflict(f"reservation of order {order_id} is changing concurrently; retry", type="Conflict")
    if existing["status"] == ReservationStatus.COMMITTED:
        raise Conflict(f"reservation of order {order_id} is committed; stock has shipped", type="ReservationCommitted")
    held = held_lines(existing)
    return _answer(order_id, ReservationStatus(existing["status"]), held) if held else _unheld(order_id)


async def commit(repo: InventoryRepository, order_id: str) -> ReservationPublic:
    """Goods issue: the held units leave ``on_hand`` for good.

    Raises:
        NotFound: the order holds no reservation.
        Conflict: ``ReservationReleased`` when it was released before.
    """
    reservation = await repo.get_reservation(order_id, for_update=True)
    if reservation is None:
        raise NotFound(f"order {order_id} has no reservation", type="ReservationNotFound")
    if reservation.status == ReservationStatus.RELEASED:
        raise Conflict(f"reservation of order {order_id} was released", type="ReservationReleased")
    if reservation.status == ReservationStatus.ACTIVE:
        for sku, quantity in (await repo.reservation_lines(order_id)).items():
            await repo.ship_reserved(sku, quantity)
        await repo.set_reservation_status(reservation, ReservationStatus.COMMITTED)
    return await _public(repo, order_id, reservation.status)


async def return_issued(repo: InventoryRepository, order_id: str, body: ReturnIn) -> ReservationPublic:
    """Issued units came back (a failed delivery): ``on_hand`` and ``available`` rise by each line.

    Only a ``COMMITTED`` reservation takes a return, once: it ends ``RETURNED``
    and a repeat answers it unchanged, whatever its lines. Lines of one SKU add
    up; none may pass what was issued of its SKU. The reservation's row lock
    makes two returns at once count once; products are touched in SKU order.

    Raises:
        NotFound: ``ReservationNotFound``.
        RuleViolation: ``UnknownSku`` (``skus``) for a SKU the catalogue does not have.
        Conflict: ``ReservationNotCommitted`` (``status``) unless committed or returned;
            ``ReturnExceedsIssued`` (``sku``, ``requested``, ``issued``).
    """
    reservation = await repo.get_reservation(order_id, for_update=True)
    if reservation is None:
        raise NotFound(f"order {order_id} has no reservation", type="ReservationNotFound")
    if reservation.status == ReservationStatus.RETURNED:
        return await _public(repo, order_id, reservation.status)
    if reservation.status != ReservationStatus.COMMITTED:
        raise Conflict(
            f"reservation of order {order_id} is {reservation.status}: only issued goods can come back",
            type="ReservationNotCommitted",
            extra={"status": reservation.status},
        )
    returned = merge_lines(body.lines)
    unknown = sorted(set(returned) - await repo.existing_skus(list(returned)))
    if unknown:
        raise RuleViolation(f"unknown SKU: {', '.join(unknown)}", type="UnknownSku", extra={"skus": unknown})
    issued = await repo.reservation_lines(order_id)
    for sku, quantity in returned.items():
        if quantity > issued.get(sku, 0):
            raise Conflict(
                f"order {order_id} was issued {issued.get(sku, 0)} of {sku}, {quantity} cannot come back",
                type="ReturnExceedsIssued",
                extra={"sku": sku, "requested": quantity, "issued": issued.get(sku, 0)},
            )
    for sku, quantity in returned.items():
        await repo.restock(sku, quantity)
    await repo.mark_returned(order_id, returned)
    await repo.set_reservation_status(reservation, ReservationStatus.RETURNED)
    return await _public(repo, order_id, ReservationStatus.RETURNED)


async def get_reservation(repo: InventoryRepository, order_id: str) -> ReservationPublic:
    reservation = await repo.get_reservation(order_id)
    if reservation is None:
        raise NotFound(f"order {order_id} has no reservation", type="ReservationNotFound")
    return await _public(repo, order_id, reservation.status)


async def _active_reservation(repo: InventoryRepository, order_id: str) -> None:
    """Lock the order's reservation; it must be ACTIVE to be adjusted."""
    reservation = await repo.get_reservation(order_id, for_update=True)
    if reservation is None:
        raise NotFound(f"order {order_id} has no reservation", type="ReservationNotFound")
    if reservation.status != ReservationStatus.ACTIVE:
        raise Conflict(
            f"reservation of order {order_id} is {reservation.status}, not ACTIVE",
            type="ReservationNotActive",
            extra={"status": reservation.status},
        )


async def _take_held(
    repo: InventoryRepository, order_id: str, sku: str, quantity: int, verb: str, error_type: str
) -> None:
    """Take ``quantity`` units of ``sku`` off the order's ACTIVE reservation line (``error_type`` when it holds fewer)."""
    await _active_reservation(repo, order_id)
    held = (await repo.reservation_lines(order_id)).get(sku, 0)
    if held < quantity:
        raise Conflict(
            f"order {order_id} holds {held} of {sku}, cannot {verb} {quantity}",
            type=error_type,
            extra={"sku": sku, "requested": quantity, "held": held},
        )
    await repo.change_line(order_id, sku, -quantity)


async def write_off(repo: InventoryRepository, order_id: str, body: WriteOffIn) -> ReservationPublic:
    """Reserved units that vanished (short pick): ``on_hand`` and ``reserved`` drop, and the order's line.

    Raises:
        NotFound: ``ReservationNotFound``.
        Conflict: ``ReservationNotActive``; ``WriteOffExceedsReservation`` when the
            order holds fewer units of the SKU.
    """
    await _take_held(repo, order_id, body.sku, body.quantity, "write off", "WriteOffExceedsReservation")
    await repo.ship_reserved(body.sku, body.quantity)
    return await _public(repo, order_id, ReservationStatus.ACTIVE)


async def top_up(repo: InventoryRepository, order_id: str, body: AdjustIn) -> ReservationPublic:
    """Hold ``quantity`` more units of the SKU for the order (``available`` → ``reserved``).

    Raises:
        NotFound: ``ReservationNotFound``.
        RuleViolation: ``UnknownSku``.
        Conflict: ``ReservationNotActive``; ``OutOfStock`` (``sku``, ``requested``, ``available``).
    """
    await _active_reservation(repo, order_id)
    if not await repo.existing_skus([body.sku]):
        raise RuleViolation(f"unknown SKU: {body.sku}", type="UnknownSku", extra={"skus": [body.sku]})
    if not await repo.take_available(body.sku, body.quantity):
        product = await repo.get_product(body.sku)
        available = product.available if product else 0
        raise Conflict(
            f"not enough {body.sku}: {body.quantity} wanted, {available} available",
            type="OutOfStock",
            extra={"sku": body.sku, "requested": body.quantity, "available": available},
        )
    await repo.change_line(order_id, body.sku, body.quantity)
    return await _public(repo, order_id, ReservationStatus.ACTIVE)


async def release_units(repo: InventoryRepository, order_id: str, body: AdjustIn) -> ReservationPublic:
    """Give ``quantity`` held units of the SKU back to ``available``.

    Raises:
        NotFound: ``ReservationNotFound``.
        Conflict: ``ReservationNotActive``; ``ReleaseExceedsReservation`` when the
            order holds fewer units of the SKU.
    """
    await _take_held(repo, order_id, body.sku, body.quantity, "release", "ReleaseExceedsReservation")
    await repo.return_reserved(body.sku, body.quantity)
    return await _public(repo, order_id, ReservationStatus.ACTIVE)


async def stock_totals(repo: InventoryRepository) -> list[StockTotal]:
    return [StockTotal.model_validate(p, from_attributes=True) for p in await repo.all_products()]
