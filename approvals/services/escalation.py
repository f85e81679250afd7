"""Escalation: stages pending past their SLA escalate to a higher role, or are
approved or rejected by their policy."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from approvals.models import (
    ApprovalDecision,
    ApprovalStage,
    ApproverRole,
    StageStatus,
    TimeoutAction,
)
from approvals.services.chain import stage_approvers_add, user_names
from approvals.services.deciding import stage_conclude
from core.services import audit_record

# Who a stage goes to when it is pending past its SLA and the policy says "escalate".
ESCALATION = {
    ApproverRole.PROJECT_MANAGER: ApproverRole.ORG_ADMIN,
    ApproverRole.FINANCE: ApproverRole.ORG_ADMIN,
    ApproverRole.GROUP: ApproverRole.ORG_ADMIN,
}


def approval_escalate_overdue(*, now=None) -> int:
    """Act on every stage pending past its SLA (one transaction each); returns how many."""
    now = now or timezone.now()
    overdue = ApprovalStage.objects.filter(status=StageStatus.PENDING, due_at__lt=now)
    return sum(stage_escalate(stage_id=pk, now=now) for pk in overdue.values_list("pk", flat=True))


@transaction.atomic
def stage_escalate(*, stage_id: int, now=None) -> bool:
    """Escalate, auto-approve or auto-reject one overdue stage, as its policy says; the decision
    is attributed to the policy (no user)."""
    now = now or timezone.now()
    stage = (
        ApprovalStage.objects.select_for_update(of=("self",))
        .select_related(
            "request__order__item", "request__order__project", "request__order__requester"
        )
        .filter(pk=stage_id, status=StageStatus.PENDING, due_at__lt=now)
        .first()
    )
    if stage is None:
        return False  # decided meanwhile
    approval = stage.request
    late = f"{stage.name} pending past its {stage.sla_hours} h SLA"
    if stage.on_timeout in (TimeoutAction.APPROVE, TimeoutAction.REJECT):
        approve = stage.on_timeout == TimeoutAction.APPROVE
        message = (
            f"{late}: policy {approval.policy_name} {'approved' if approve else 'rejected'} it."
        )
        ApprovalDecision.objects.create(stage=stage, approve=approve, comment=message)
        audit_record(
            action="approval.timeout",
            target=approval,
            to_state=f"stage {stage.position} {'approved' if approve else 'rejected'}",
            message=message,
            order_id=approval.order_id,
        )
        stage_conclude(approval, stage, approve=approve, actor=None, comment=message)
        return True
    next_role = ESCALATION.get(stage.role)
    stage.escalations += 1
    if next_role is None:
        stage.due_at = None  # nobody above: keep waiting, say so once
        stage.save()
        message = f"{late}; there is no higher role to escalate to."
    else:
        previous = stage.get_role_display()
        stage.role = next_role
        stage.due_at = now + timedelta(hours=stage.sla_hours or 0)
        stage.save()
        added = stage_approvers_add(stage, role=next_role)
        message = (
            f"{late}: policy {approval.policy_name} escalated it from {previous} to "
            f"{stage.get_role_display()} ({user_names(added) or 'nobody new'})."
        )
    audit_record(
        action="approval.escalated",
        target=approval,
        to_state=f"stage {stage.position} {stage.role}",
        message=message,
        order_id=approval.order_id,
    )
    return True
