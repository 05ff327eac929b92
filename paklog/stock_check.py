"""``paklog check stock``: do the warehouse's bins agree with inventory's totals?

Two services count the same units: inventory (``on_hand = available +
reserved`` per SKU) and the warehouse (bin quantities, and how many of them
are ``allocated`` to pick tasks). :func:`compare` lines them up per SKU and
names every broken invariant (``docs/warehouse-floor.md``, "Who owns what"):

* the bins hold what inventory has on hand (``bins == on_hand``);
* ``available + reserved == on_hand``;
* nothing is negative;
* units allocated to pick tasks are reserved for orders (``allocated <= reserved``)
  and lie in the bins (``allocated <= bins``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class InventoryTotal:
    """One row of inventory's ``GET /stock/totals``."""

    sku: str
    on_hand: int
    available: int
    reserved: int

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> InventoryTotal:
        return cls(
            sku=str(row["sku"]),
            on_hand=int(row["on_hand"]),
            available=int(row["available"]),
            reserved=int(row["reserved"]),
        )


@dataclass(frozen=True)
class BinTotal:
    """One row of the warehouse's ``GET /stock/totals``: the SKU's units in all its bins."""

    sku: str
    quantity: int
    allocated: int

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> BinTotal:
        return cls(sku=str(row["sku"]), quantity=int(row["quantity"]), allocated=int(row["allocated"]))


@dataclass(frozen=True)
class StockRow:
    """One SKU as both services count it; a SKU one of them does not know counts 0 there."""

    sku: str
    bins: int
    on_hand: int
    available: int
    reserved: int
    allocated: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _problems(bins: int, on_hand: int, available: int, reserved: int, allocated: int) -> tuple[str, ...]:
    found: list[str] = []
    if bins != on_hand:
        found.append(f"bins {bins} != on_hand {on_hand}")
    if available + reserved != on_hand:
        found.append(f"available {available} + reserved {reserved} != on_hand {on_hand}")
    counts = {"bins": bins, "on_hand": on_hand, "available": available, "reserved": reserved, "allocated": allocated}
    found.extend(f"{name} {value} < 0" for name, value in counts.items() if value < 0)
    if allocated > reserved:
        found.append(f"allocated {allocated} > reserved {reserved}")
    if allocated > bins:
        found.append(f"allocated {allocated} > bins {bins}")
    return tuple(found)


def compare(inventory: Iterable[InventoryTotal], warehouse: Iterable[BinTotal]) -> list[StockRow]:
    """Every SKU either service knows, sorted, with its broken invariants (none: consistent)."""
    totals = {row.sku: row for row in inventory}
    bins = {row.sku: row for row in warehouse}
    rows = []
    for sku in sorted(totals.keys() | bins.keys()):
        total = totals.get(sku, InventoryTotal(sku, 0, 0, 0))
        held = bins.get(sku, BinTotal(sku, 0, 0))
        problems = _problems(held.quantity, total.on_hand, total.available, total.reserved, held.allocated)
        if sku not in totals:
            problems = (f"{sku} is in bins but unknown to inventory", *problems)
        rows.append(
            StockRow(
                sku=sku,
                bins=held.quantity,
                on_hand=total.on_hand,
                available=total.available,
                reserved=total.reserved,
                allocated=held.allocated,
                problems=problems,
            )
        )
    return rows
