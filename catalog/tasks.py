"""Celery tasks of the order's lifecycle: load by id, call `catalog.orders`."""

from celery import shared_task

from catalog import orders


@shared_task
def deploy_order(order_id: int) -> None:
    """Plan and queue an approved order's deployment; a re-delivery is harmless."""
    orders.order_deploy(order_id=order_id)


@shared_task
def deploy_overdue_orders() -> int:
    """Beat runs this: approved orders whose deploy message was lost are started all the same."""
    return orders.orders_deploy_overdue()
