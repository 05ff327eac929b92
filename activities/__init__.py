"""Activities: thin typed HTTP clients, one module per target service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from activities.base import ServiceClient
from activities.delivery import ReturnActivities, TrackingActivities
from activities.erp_orders import ErpOrdersActivities
from activities.erp_sync import ErpClient, ErpSyncActivities
from activities.inventory import InventoryActivities, InventoryClient, StockActivities
from activities.noop import noop
from activities.notifications import NotificationsActivities, NotificationsClient
from activities.orders import FulfilmentActivities, OrdersActivities, OrdersClient
from activities.payments import CaptureActivities, PaymentsActivities, PaymentsClient
from activities.shipping import ShippingActivities, ShippingClient
from activities.warehouse import WarehouseActivities, WarehouseClient
from common.settings import ServiceUrls


def build_activities(
    http: httpx.AsyncClient, urls: ServiceUrls, *, erp_url: str | None = None, include_noop: bool = True
) -> list[Callable[..., Any]]:
    """Every activity bound to one shared pooled HTTP client, sending the deployment's service token.

    Args:
        http: The worker's pooled client.
        urls: The services' addresses and the service token.
        erp_url: The ERP's address; without one the ERP's activities (the import, the order
            export) are not registered.
        include_noop: Register the bench's no-op activity too.
    """
    token = urls.service_token.get_secret_value()
    orders = OrdersActivities(OrdersClient(http, urls.orders_url, token))
    inventory = InventoryActivities(InventoryClient(http, urls.inventory_url, token))
    payments = PaymentsActivities(PaymentsClient(http, urls.payments_url, token))
    notifications = NotificationsActivities(NotificationsClient(http, urls.notifications_url, token))
    fulfilment = FulfilmentActivities(OrdersClient(http, urls.orders_url, token))
    stock = StockActivities(InventoryClient(http, urls.inventory_url, token))
    capture = CaptureActivities(PaymentsClient(http, urls.payments_url, token))
    warehouse = WarehouseActivities(WarehouseClient(http, urls.warehouse_url, token))
    shipping = ShippingActivities(ShippingClient(http, urls.shipping_url, token))
    tracking = TrackingActivities(
        ShippingClient(http, urls.shipping_url, token), NotificationsClient(http, urls.notifications_url, token)
    )
    returns = ReturnActivities(
        PaymentsClient(http, urls.payments_url, token),
        InventoryClient(http, urls.inventory_url, token),
        WarehouseClient(http, urls.warehouse_url, token),
    )
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
        fulfilment.ship,
        fulfilment.change_address,
        stock.write_off,
        stock.top_up,
        stock.release_units,
        stock.commit,
        stock.dimensions,
        capture.capture,
        warehouse.enqueue,
        warehouse.withdraw,
        warehouse.plan_wave,
        warehouse.allocate_wave,
        warehouse.release_wave,
        warehouse.remove_from_wave,
        warehouse.wave_progress,
        warehouse.complete_wave,
        warehouse.cancel_wave,
        warehouse.order_tasks,
        warehouse.confirm_task,
        warehouse.reallocate,
        warehouse.repick,
        warehouse.return_picks,
        warehouse.issue,
        warehouse.hold,
        warehouse.requeue,
        shipping.choose_carton,
        shipping.buy_label,
        shipping.void_label,
        tracking.subscribe,
        tracking.notify_subscribers,
        returns.refund,
        returns.return_stock,
        returns.restock,
    ]
    if erp_url is not None:
        erp = ErpSyncActivities(
            ErpClient(http, erp_url, token),
            ServiceClient(http, urls.inventory_url, token),
            ServiceClient(http, urls.identity_url, token),
            ServiceClient(http, urls.warehouse_url, token),
        )
        export = ErpOrdersActivities(ErpClient(http, erp_url, token))
        activities += [erp.load_watermark, erp.import_page, export.create_sales_order, export.cancel_sales_order]
    if include_noop:
        activities.append(noop)
    return activities
