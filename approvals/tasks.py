from celery import shared_task

from approvals.services import (
    approval_escalate_overdue,
    order_admit,
    orders_admit_overdue,
    orders_admit_submitted,
)


@shared_task
def admit_submitted() -> int:
    """Admission of every submitted order; one message per burst of submissions
    (`order_admission_enqueue`), and a re-delivery is harmless."""
    return orders_admit_submitted()


@shared_task
def admit_order(order_id: int) -> None:
    """Admission of one submitted order (messages queued before admissions were coalesced);
    a re-delivery is harmless."""
    order_admit(order_id=order_id)


@shared_task
def admit_overdue_orders() -> int:
    """Beat runs this: orders whose admission message was lost are admitted all the same."""
    return orders_admit_overdue()


@shared_task
def escalate_overdue() -> int:
    """Beat runs this: stages pending past their SLA escalate, or are decided by their policy."""
    return approval_escalate_overdue()
