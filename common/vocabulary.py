"""The order vocabulary of the wire contract: statuses and cancel reasons.

Defined once, used by the orders service, the OrderFulfillment workflow and
the gateway. Values are stored in databases and workflow histories: add,
never rename.
"""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    """``PENDING → … → SHIPPED → DELIVERED``, or ``CANCELLED`` before shipping."""

    PENDING = "PENDING"
    RESERVED = "RESERVED"
    PAYMENT_AUTHORIZED = "PAYMENT_AUTHORIZED"
    AWAITING_WAVE = "AWAITING_WAVE"
    PICKING = "PICKING"
    PACKED = "PACKED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"


class CancelReason(StrEnum):
    """Why an order ended ``CANCELLED``."""

    OUT_OF_STOCK = "OUT_OF_STOCK"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    CUSTOMER_CANCELLED = "CUSTOMER_CANCELLED"
    OPERATOR_CANCELLED = "OPERATOR_CANCELLED"
    ERP_REJECTED = "ERP_REJECTED"
    DELIVERY_FAILED = "DELIVERY_FAILED"
    FULFILMENT_FAILED = "FULFILMENT_FAILED"
