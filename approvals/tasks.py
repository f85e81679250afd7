from celery import shared_task

from approvals.services.escalation import approval_escalate_overdue


@shared_task
def escalate_overdue() -> int:
    """Beat runs this: stages pending past their SLA escalate, or are decided by their policy."""
    return approval_escalate_overdue()
