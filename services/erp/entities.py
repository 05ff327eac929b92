"""The four entity sets: their tables, keys, events, and rows as JSON (SAP's field names).

A row becomes its JSON in one plain function per set, used for pages, single
entities and the events' ``data`` alike, so all three always agree. Rows are
read through :attr:`EntitySet.columns`, where PostgreSQL already writes each
decimal as text with its column's places (``0.350``, ``12.00``): formatting a
``Decimal`` in Python cost most of a 1,000-row page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, ColumnElement, Numeric, Table, Text, cast

from services.erp import models
from services.erp.odata import etag, format_ts
from services.erp.tables import customers, materials, sales_orders, stock

#: The one plant of the stand-in.
PLANT = "1000"
#: Orders whose e-mail matches no customer are sold to this one.
ONE_TIME_CUSTOMER = "0000999999"
ONE_TIME_CUSTOMER_NAME = "One-time customer (web shop)"
#: Sales order numbers start here.
FIRST_SALES_ORDER = 500001


# Each row is unpacked in the order of its set's ``fields`` (attribute access on a Row costs
# microseconds per field: most of a 1,000-row page).
MATERIAL_FIELDS = (
    "material",
    "description",
    "base_unit",
    "gross_weight",
    "weight_unit",
    "volume",
    "volume_unit",
    "ean",
    "price",
    "currency",
    "version",
    "last_changed_at",
)
CUSTOMER_FIELDS = (
    "customer",
    "name",
    "email",
    "street",
    "city",
    "postal_code",
    "country",
    "delivery_blocked",
    "credit_blocked",
    "version",
    "last_changed_at",
)
STOCK_FIELDS = ("material", "plant", "unrestricted", "version", "last_changed_at")
SALES_ORDER_FIELDS = (
    "sales_order",
    "purchase_order",
    "sold_to_party",
    "customer_email",
    "currency",
    "total_net_amount",
    "overall_status",
    "items",
    "version",
    "last_changed_at",
)


def material_json(row: Sequence[Any]) -> dict[str, Any]:
    material, description, base_unit, weight, weight_unit, volume, volume_unit, ean, price, currency, version, at = row
    return {
        "Material": material,
        "MaterialDescription": description,
        "BaseUnit": base_unit,
        "GrossWeight": weight,
        "WeightUnit": weight_unit,
        "Volume": volume,
        "VolumeUnit": volume_unit,
        "InternationalArticleNumber": ean,
        "Price": price,
        "Currency": currency,
        "LastChangedAt": format_ts(at),
        "@odata.etag": etag(version),
    }


def customer_json(row: Sequence[Any]) -> dict[str, Any]:
    customer, name, email, street, city, postal_code, country, delivery_blocked, credit_blocked, version, at = row
    return {
        "Customer": customer,
        "CustomerName": name,
        "EmailAddress": email,
        "StreetName": street,
        "CityName": city,
        "PostalCode": postal_code,
        "Country": country,
        "DeliveryIsBlocked": delivery_blocked,
        "CreditIsBlocked": credit_blocked,
        "LastChangedAt": format_ts(at),
        "@odata.etag": etag(version),
    }


def stock_json(row: Sequence[Any]) -> dict[str, Any]:
    material, plant, unrestricted, version, at = row
    return {
        "Material": material,
        "Plant": plant,
        "UnrestrictedStock": unrestricted,
        "LastChangedAt": format_ts(at),
        "@odata.etag": etag(version),
    }


def sales_order_json(row: Sequence[Any]) -> dict[str, Any]:
    number, purchase_order, sold_to, email, currency, total, status, items, version, at = row
    return {
        "SalesOrder": number,
        "PurchaseOrderByCustomer": purchase_order,
        "SoldToParty": sold_to,
        "CustomerEmail": email,
        "Currency": currency,
        "TotalNetAmount": total,
        "OverallStatus": status,
        "Items": items,
        "LastChangedAt": format_ts(at),
        "@odata.etag": etag(version),
    }


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class EntitySet:
    """One ``/odata/<name>`` collection."""

    name: str
    table: Table
    #: The columns read, in the order ``to_json`` unpacks them.
    fields: tuple[str, ...]
    #: The key's JSON name (``Material``).
    key_field: str
    key_pattern: str
    event_type: str
    to_json: Callable[[Sequence[Any]], dict[str, Any]]
    patch_model: type[models._Patch]
    #: JSON field → (column, conversion) of what a PATCH may change.
    patchable: Mapping[str, tuple[str, Callable[[Any], Any]]]
    entity_model: type[BaseModel]
    page_model: type[BaseModel]

    @property
    def columns(self) -> list[ColumnElement[Any]]:
        """The :attr:`fields`, decimals as text (what :attr:`to_json` expects): for ``SELECT`` and ``RETURNING``."""
        columns = [self.table.c[name] for name in self.fields]
        return [
            cast(column, Text).label(column.name) if isinstance(column.type, Numeric) else column for column in columns
        ]

    @property
    def key(self) -> Column[Any]:
        column: Column[Any] = self.table.primary_key.columns.values()[0]
        return column

    @property
    def changed_at(self) -> Column[Any]:
        column: Column[Any] = self.table.c.last_changed_at
        return column


MATERIALS = EntitySet(
    fields=MATERIAL_FIELDS,
    name="Materials",
    table=materials,
    key_field="Material",
    key_pattern=models.MATERIAL_PATTERN,
    event_type="MaterialChanged",
    to_json=material_json,
    patch_model=models.MaterialPatch,
    patchable={
        "MaterialDescription": ("description", _same),
        "BaseUnit": ("base_unit", _same),
        "GrossWeight": ("gross_weight", Decimal),
        "WeightUnit": ("weight_unit", _same),
        "Volume": ("volume", Decimal),
        "VolumeUnit": ("volume_unit", _same),
        "InternationalArticleNumber": ("ean", _same),
        "Price": ("price", Decimal),
        "Currency": ("currency", _same),
    },
    entity_model=models.Material,
    page_model=models.MaterialPage,
)
CUSTOMERS = EntitySet(
    fields=CUSTOMER_FIELDS,
    name="Customers",
    table=customers,
    key_field="Customer",
    key_pattern=models.NUMBER_PATTERN,
    event_type="CustomerChanged",
    to_json=customer_json,
    patch_model=models.CustomerPatch,
    patchable={
        "CustomerName": ("name", _same),
        "EmailAddress": ("email", _same),
        "StreetName": ("street", _same),
        "CityName": ("city", _same),
        "PostalCode": ("postal_code", _same),
        "Country": ("country", _same),
        "DeliveryIsBlocked": ("delivery_blocked", _same),
        "CreditIsBlocked": ("credit_blocked", _same),
    },
    entity_model=models.Customer,
    page_model=models.CustomerPage,
)
MATERIAL_STOCK = EntitySet(
    fields=STOCK_FIELDS,
    name="MaterialStock",
    table=stock,
    key_field="Material",
    key_pattern=models.MATERIAL_PATTERN,
    event_type="StockChanged",
    to_json=stock_json,
    patch_model=models.MaterialStockPatch,
    patchable={"UnrestrictedStock": ("unrestricted", _same)},
    entity_model=models.MaterialStock,
    page_model=models.MaterialStockPage,
)
SALES_ORDERS = EntitySet(
    fields=SALES_ORDER_FIELDS,
    name="SalesOrders",
    table=sales_orders,
    key_field="SalesOrder",
    key_pattern=models.NUMBER_PATTERN,
    event_type="SalesOrderStatusChanged",
    to_json=sales_order_json,
    patch_model=models.SalesOrderPatch,
    patchable={"OverallStatus": ("overall_status", str)},
    entity_model=models.SalesOrder,
    page_model=models.SalesOrderPage,
)
ENTITY_SETS: tuple[EntitySet, ...] = (MATERIALS, CUSTOMERS, MATERIAL_STOCK, SALES_ORDERS)
