from celery import shared_task

from approvals.services import approval_escalate_overdue, order_admit, orders_admit_overdue


@shared_task
def admit_order(order_id: int) -> None:
    """Admission of a submitted order (enqueued by `order_submit`); a re-delivery is harmless."""
    order_admit(order_id=order_id)


@shared_task
def admit_overdue_orders() -> int:
    """Beat runs this: orders whose admission message was lost are admitted all the same."""
    return orders_admit_overdue()


@shared_task
def escalate_overdue() -> int:
    """Beat runs this: stages pending past their SLA escalate, or are decided by their policy."""
    return approval_escalate_overdue()
