"""The stand-in's tables (SQLAlchemy Core; made with ``metadata.create_all``, no migrations).

An outside system's stand-in, not a PakLog service: its schema is created on
start when missing and never migrated. Every entity row carries its
``version`` (the ETag's number, +1 per change) and ``last_changed_at``, taken
from the one-row ``clock`` table (:func:`services.erp.store.tick`), and is
read in ``(last_changed_at, key)`` order, which the unique indexes serve.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

#: One row (id 1): the last LastChangedAt handed out. Its row lock serialises the ERP's writes, so
#: changes commit in the order of their timestamps (see ``store.tick``).
clock = Table(
    "clock",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("last_changed_at", DateTime(timezone=True), nullable=False),
    Column("seeded_at", DateTime(timezone=True), nullable=False),
)

materials = Table(
    "materials",
    metadata,
    Column("material", String(64), primary_key=True),
    Column("description", String(200), nullable=False),
    Column("base_unit", String(3), nullable=False),
    Column("gross_weight", Numeric(12, 3), nullable=False),
    Column("weight_unit", String(3), nullable=False),
    Column("volume", Numeric(12, 3), nullable=False),
    Column("volume_unit", String(3), nullable=False),
    Column("ean", String(13), nullable=False),
    Column("price", Numeric(12, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("version", Integer, nullable=False),
    Column("last_changed_at", DateTime(timezone=True), nullable=False),
    Index("materials_changes", "last_changed_at", "material", unique=True),
)

customers = Table(
    "customers",
    metadata,
    Column("customer", String(10), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(254), nullable=False),
    Column("street", String(200), nullable=False),
    Column("city", String(100), nullable=False),
    Column("postal_code", String(20), nullable=False),
    Column("country", String(2), nullable=False),
    Column("delivery_blocked", Boolean, nullable=False),
    Column("credit_blocked", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("last_changed_at", DateTime(timezone=True), nullable=False),
    Index("customers_changes", "last_changed_at", "customer", unique=True),
)
#: Sales orders find their sold-to party by e-mail, whatever its case.
Index("customers_email", func.lower(customers.c.email))

stock = Table(
    "stock",
    metadata,
    Column("material", String(64), primary_key=True),
    Column("plant", String(4), nullable=False),
    Column("unrestricted", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("last_changed_at", DateTime(timezone=True), nullable=False),
    Index("stock_changes", "last_changed_at", "material", unique=True),
)

sales_orders = Table(
    "sales_orders",
    metadata,
    Column("sales_order", String(10), primary_key=True),
    Column("purchase_order", String(64), nullable=False, unique=True),
    Column("sold_to_party", String(10), nullable=False),
    Column("customer_email", String(254), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total_net_amount", Numeric(14, 2), nullable=False),
    Column("overall_status", String(16), nullable=False),
    #: ``[{"Material", "RequestedQuantity", "NetPrice"}]`` as answered.
    Column("items", JSONB, nullable=False),
    #: sha256 of the creating request (normalised): a repeat with other content is a 409.
    Column("request_digest", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("last_changed_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("sales_orders_changes", "last_changed_at", "sales_order", unique=True),
)

#: Events to post, written in the transaction of their change; ``body`` is the exact bytes posted and signed.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("type", String(32), nullable=False),
    Column("object_id", String(64), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("body", LargeBinary, nullable=False),
    #: ``pending`` until a 2xx (``delivered``) or a 4xx (``rejected``, final).
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("duplicated", Boolean, nullable=False, default=False),
    Column("answer_status", Integer),
    Column("answer", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Index("outbox_pending", "status", "occurred_at"),
    Index("outbox_by_object", "object_id", "occurred_at"),
)
