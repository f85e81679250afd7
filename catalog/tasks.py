"""Celery tasks of the order's lifecycle: load by id, call `catalog.orders`."""

from celery import shared_task

from catalog import orders


@shared_task
def deploy_order(order_id: int) -> None:
    """Plan and queue an approved order's deployment; a re-delivery is harmless."""
    orders.order_deploy(order_id=order_id)


@shared_task
def admit_submitted() -> int:
    """Admission of every submitted order; one message per burst of submissions
    (`order_admission_enqueue`), and a re-delivery is harmless."""
    return orders.orders_admit_submitted()


@shared_task
def admit_order(order_id: int) -> None:
    """Admission of one submitted order; a re-delivery is harmless."""
    orders.order_admit(order_id=order_id)


@shared_task
def admit_overdue_orders() -> int:
    """Beat runs this: orders whose admission message was lost are admitted all the same."""
    return orders.orders_admit_overdue()
