"""Demo floor: two zones of 100 bins each on a serpentine pick path, stocked with the demo catalogue.

For every demo SKU the bins hold exactly its seeded ``on_hand`` at inventory
(``services/inventory/seed.py``). ``BTL-STEEL`` and ``NOTE-A5`` are
expiry-tracked in several lots; some SKUs also sit in reserve locations
(level 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.warehouse.models import BinStock, Location, LocationType

ZONES = ("A", "B")
AISLES = 5
RACKS = 10
LEVELS = 2


@dataclass(frozen=True, slots=True)
class Placement:
    """Units of a SKU in one bin; ``expires_in_days`` and ``lot`` only for expiry-tracked SKUs."""

    location: str
    quantity: int
    received_days_ago: int
    lot: str | None = None
    expires_in_days: int | None = None


PLACEMENTS: dict[str, tuple[Placement, ...]] = {
    "MUG-RED": (Placement("A-01-01-1", 60, 30), Placement("A-03-05-2", 40, 60)),
    "MUG-BLU": (Placement("A-01-02-1", 50, 20), Placement("B-02-03-2", 30, 45)),
    "TEE-BLK-M": (Placement("A-02-01-1", 70, 10), Placement("A-04-06-2", 30, 40)),
    "TEE-BLK-L": (Placement("A-02-02-1", 60, 15),),
    "TEE-WHT-M": (Placement("A-02-03-1", 40, 12), Placement("B-01-01-1", 20, 50)),
    "CAP-GRN": (Placement("B-01-02-1", 40, 25),),
    "BAG-TOTE": (Placement("B-02-01-1", 80, 8), Placement("B-05-10-2", 40, 70)),
    "BTL-STEEL": (
        Placement("A-05-01-1", 20, 90, lot="BTL-L2406", expires_in_days=200),
        Placement("A-05-02-1", 20, 60, lot="BTL-L2409", expires_in_days=300),
        Placement("B-04-07-2", 10, 30, lot="BTL-L2412", expires_in_days=400),
    ),
    "NOTE-A5": (
        Placement("B-03-01-1", 80, 120, lot="NOTE-N24A", expires_in_days=365),
        Placement("B-03-02-1", 70, 80, lot="NOTE-N24B", expires_in_days=540),
        Placement("A-05-09-2", 50, 20, lot="NOTE-N24C", expires_in_days=720),
    ),
    "PEN-BLK": (Placement("B-04-01-1", 300, 14), Placement("B-04-02-2", 200, 100)),
    "LAMP-DESK": (Placement("B-05-01-1", 1, 5),),
}


def floor_plan() -> list[dict[str, object]]:
    """Every location, numbered along a serpentine path: odd aisles up the racks, even aisles back down."""
    rows: list[dict[str, object]] = []
    for zone in ZONES:
        for aisle in range(1, AISLES + 1):
            racks = range(1, RACKS + 1) if aisle % 2 else range(RACKS, 0, -1)
            for rack in racks:
                for level in range(1, LEVELS + 1):
                    rows.append(
                        {
                            "code": f"{zone}-{aisle:02d}-{rack:02d}-{level}",
                            "zone": zone,
                            "aisle": aisle,
                            "rack": rack,
                            "level": level,
                            "pick_seq": (len(rows) + 1) * 10,
                            "type": LocationType.PICK if level == 1 else LocationType.RESERVE,
                        }
                    )
    return rows


async def seed(session: AsyncSession) -> int:
    """Create the missing locations, and bin stock for every demo SKU that has none yet.

    Returns:
        Locations and bin rows created.
    """
    now = datetime.now(UTC)
    today: date = now.date()
    created = 0
    async with session.begin():
        table = Location.__table__  # type: ignore[attr-defined]
        for row in floor_plan():
            result = await session.exec(
                insert(table)
                .values(**row, locked=False, updated_at=now)
                .on_conflict_do_nothing(index_elements=["code"])
                .returning(table.c.code)
            )
            created += result.first() is not None
        stocked = set((await session.exec(select(BinStock.sku).where(col(BinStock.sku).in_(PLACEMENTS)))).all())
        for sku, placements in PLACEMENTS.items():
            if sku in stocked:
                continue
            for p in placements:
                session.add(
                    BinStock(
                        location=p.location,
                        sku=sku,
                        lot=p.lot,
                        expiry_date=today + timedelta(days=p.expires_in_days) if p.expires_in_days else None,
                        received_at=now - timedelta(days=p.received_days_ago),
                        quantity=p.quantity,
                        allocated=0,
                    )
                )
                created += 1
        await session.flush()
    return created
