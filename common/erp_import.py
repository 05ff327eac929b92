"""The receiving side of the ERP master-data import, shared by the services that own imported data.

The importer (``workflows/erp_sync.py``) posts one page of an entity at a time
to the service that owns it (``inventory``: materials and stock; ``identity``:
customers), with the page's watermark: the ``(LastChangedAt, key)`` of its
last row, where the next page starts. The service applies the rows newest-wins
and stores the watermark in the same transaction, so a committed watermark
always means "every row up to here is in", and a page that fails leaves both
untouched.

Each such database has an ``erp_watermarks`` table (one row per entity),
written here. The watermark only moves forward: a late copy of an earlier
page (a retry that lost a race, a backfill from zero) counts its rows but
cannot move the position back. Timestamps are strictly increasing across the
ERP, so the key breaks no real ties; it is compared byte-wise anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import BigInteger, Column, DateTime, Text, bindparam, case, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

#: The largest page a service takes in one request.
MAX_PAGE_ITEMS = 1000
#: Material numbers (PakLog SKUs) and customer numbers both fit it.
ERP_KEY_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,63}$"


def _iso_text(value: Any) -> Any:
    # ISO 8601 text only: a bare number would otherwise be read as a Unix timestamp.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time with an offset")
    return value


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 and the like
        raise ValueError("out of range") from None


#: An ERP change time: ISO 8601 text with an offset (a naive one is refused), kept in UTC.
#: Every such value fits ``timestamptz`` (years 1-9999, microseconds).
ChangeTime = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_utc)]


class WatermarkIn(BaseModel):
    """Where the next page starts: the ``(LastChangedAt, key)`` of the page's last row."""

    model_config = ConfigDict(extra="forbid", strict=True)

    changed_at: ChangeTime = Field(strict=False, examples=["2026-05-04T10:15:00.000001Z"])
    key: str = Field(pattern=ERP_KEY_PATTERN, examples=["MAT-00001"])


class WatermarkPublic(BaseModel):
    """An entity's committed watermark; ``rows``: items received in every page committed so far."""

    changed_at: datetime
    key: str
    rows: int
    updated_at: datetime


class ErpWatermark(SQLModel, table=True):
    """One entity's import position in a service's database (``erp_watermarks``)."""

    __tablename__ = "erp_watermarks"

    entity: str = SQLField(sa_column=Column(Text, primary_key=True))
    changed_at: datetime = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False))
    key: str = SQLField(sa_column=Column(Text, nullable=False))
    rows: int = SQLField(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False))


_TABLE = ErpWatermark.__table__  # type: ignore[attr-defined]
_EXCLUDED = insert(_TABLE).excluded
# Byte order, not the database's collation: the ERP orders keys the same way on any server.
_NEWER = tuple_(_EXCLUDED.changed_at, _EXCLUDED.key.collate("C")) > tuple_(
    _TABLE.c.changed_at, _TABLE.c.key.collate("C")
)
#: Built once: insert the entity's first watermark, or move it forward and add the page's rows.
STORE_SQL = (
    insert(_TABLE)
    .values(
        entity=bindparam("entity"),
        changed_at=bindparam("changed_at"),
        key=bindparam("key"),
        rows=bindparam("rows"),
        updated_at=bindparam("updated_at"),
    )
    .on_conflict_do_update(
        index_elements=["entity"],
        set_={
            "changed_at": case((_NEWER, _EXCLUDED.changed_at), else_=_TABLE.c.changed_at),
            "key": case((_NEWER, _EXCLUDED.key), else_=_TABLE.c.key),
            "rows": _TABLE.c.rows + _EXCLUDED.rows,
            "updated_at": _EXCLUDED.updated_at,
        },
    )
    .returning(_TABLE.c.changed_at, _TABLE.c.key, _TABLE.c.rows, _TABLE.c.updated_at)
)


async def store_watermark(session: AsyncSession, entity: str, watermark: WatermarkIn, rows: int) -> WatermarkPublic:
    """Record a page's watermark in the caller's transaction; the entity's watermark as it now stands.

    Args:
        session: The unit of work that also wrote the page's rows.
        entity: ``materials``, ``stock``, ``customers``.
        watermark: The page's last ``(changed_at, key)``; an older one leaves the position alone.
        rows: Items the page carried (added to the entity's count).
    """
    connection = await session.connection()
    result = await connection.execute(
        STORE_SQL,
        {
            "entity": entity,
            "changed_at": watermark.changed_at,
            "key": watermark.key,
            "rows": rows,
            "updated_at": datetime.now(UTC),
        },
    )
    changed_at, key, total, updated_at = result.one()
    return WatermarkPublic(changed_at=changed_at, key=key, rows=total, updated_at=updated_at)


async def load_watermarks(session: AsyncSession, entities: tuple[str, ...]) -> dict[str, WatermarkPublic | None]:
    """Each entity's committed watermark (``None``: no page committed yet)."""
    result = await session.exec(select(ErpWatermark).where(col(ErpWatermark.entity).in_(entities)))
    found = {row.entity: WatermarkPublic.model_validate(row, from_attributes=True) for row in result.all()}
    return {entity: found.get(entity) for entity in entities}
