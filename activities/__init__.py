"""Activities: thin typed HTTP clients, one module per target service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from activities.inventory import InventoryActivities, InventoryClient
from activities.noop import noop
from activities.notifications import NotificationsActivities, NotificationsClient
from activities.orders import OrdersActivities, OrdersClient
from activities.payments import PaymentsActivities, PaymentsClient
from common.settings import ServiceUrls


def build_activities(
    http: httpx.AsyncClient, urls: ServiceUrls, *, include_noop: bool = True
) -> list[Callable[..., Any]]:
    """Every activity bound to one shared pooled HTTP client, sending the deployment's service token."""
    token = urls.service_token.get_secret_value()
    orders = OrdersActivities(OrdersClient(http, urls.orders_url, token))
    inventory = InventoryActivities(InventoryClient(http, urls.inventory_url, token))
    payments = PaymentsActivities(PaymentsClient(http, urls.payments_url, token))
    notifications = NotificationsActivities(NotificationsClient(http, urls.notifications_url, token))
    activities: list[Callable[..., Any]] = [
        orders.create,
        orders.transition,
        orders.cancel,
        orders.record_alert,
        inventory.reserve,
        inventory.release,
        payments.authorize,
        payments.void,
        notifications.send,
    ]
    if include_noop:
        activities.append(noop)
    return activities
