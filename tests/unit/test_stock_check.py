"""``paklog check stock``'s comparison: every broken invariant is named, a consistent floor has none."""

from __future__ import annotations

import pytest

from paklog.stock_check import BinTotal, InventoryTotal, compare


def test_consistent_stock_has_no_problem() -> None:
    rows = compare(
        [InventoryTotal("MUG-RED", 100, 90, 10), InventoryTotal("TEE-BLK-M", 5, 5, 0)],
        [BinTotal("TEE-BLK-M", 5, 0), BinTotal("MUG-RED", 100, 4)],
    )
    assert [(r.sku, r.bins, r.on_hand, r.available, r.reserved, r.allocated) for r in rows] == [
        ("MUG-RED", 100, 100, 90, 10, 4),
        ("TEE-BLK-M", 5, 5, 5, 0, 0),
    ]
    assert all(r.ok for r in rows)


@pytest.mark.parametrize(
    ("inventory", "bins", "problem"),
    [
        (InventoryTotal("MUG-RED", 100, 90, 10), BinTotal("MUG-RED", 99, 0), "bins 99 != on_hand 100"),
        (
            InventoryTotal("MUG-RED", 100, 91, 10),
            BinTotal("MUG-RED", 100, 0),
            "available 91 + reserved 10 != on_hand 100",
        ),
        (InventoryTotal("MUG-RED", 0, 1, -1), BinTotal("MUG-RED", 0, 0), "reserved -1 < 0"),
        (InventoryTotal("MUG-RED", -1, -1, 0), BinTotal("MUG-RED", -1, 0), "bins -1 < 0"),
        (InventoryTotal("MUG-RED", 10, 8, 2), BinTotal("MUG-RED", 10, 3), "allocated 3 > reserved 2"),
        (InventoryTotal("MUG-RED", 10, 8, 2), BinTotal("MUG-RED", 10, -1), "allocated -1 < 0"),
    ],
)
def test_each_broken_invariant_is_named(inventory: InventoryTotal, bins: BinTotal, problem: str) -> None:
    (row,) = compare([inventory], [bins])
    assert not row.ok
    assert problem in row.problems


def test_a_sku_only_one_side_knows_is_a_mismatch() -> None:
    rows = {r.sku: r for r in compare([InventoryTotal("MUG-RED", 3, 3, 0)], [BinTotal("PEN-BLK", 2, 0)])}
    assert rows["MUG-RED"].problems == ("bins 0 != on_hand 3",)
    assert rows["PEN-BLK"].problems[0] == "PEN-BLK is in bins but unknown to inventory"
    assert "bins 2 != on_hand 0" in rows["PEN-BLK"].problems
    # A SKU without units has no bin rows: consistent.
    (empty,) = compare([InventoryTotal("LAMP-DESK", 0, 0, 0)], [])
    assert empty.ok


def test_rows_parse_the_services_json() -> None:
    inventory = InventoryTotal.from_json({"sku": "MUG-RED", "on_hand": 4, "available": 3, "reserved": 1, "extra": 1})
    bins = BinTotal.from_json({"sku": "MUG-RED", "quantity": 4, "allocated": 1})
    assert compare([inventory], [bins])[0].ok
