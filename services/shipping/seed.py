"""The standard cartons: S, M, L and XL (volume in cm³, the most weight they carry)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from services.shipping.models import Carton

CARTONS: tuple[Carton, ...] = (
    Carton(code="S", volume_cm3=6_000, max_weight_grams=5_000),
    Carton(code="M", volume_cm3=24_000, max_weight_grams=15_000),
    Carton(code="L", volume_cm3=96_000, max_weight_grams=30_000),
    Carton(code="XL", volume_cm3=180_000, max_weight_grams=40_000),
)


async def seed(session: AsyncSession) -> int:
    """Create the cartons that do not exist yet; existing ones are left alone."""
    table = Carton.__table__  # type: ignore[attr-defined]
    async with session.begin():
        result = await session.exec(
            insert(table)
            .values([c.model_dump() for c in CARTONS])
            .on_conflict_do_nothing(index_elements=["code"])
            .returning(table.c.code)
        )
        return len(result.all())
