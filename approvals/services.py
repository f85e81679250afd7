"""Writes for admission: open an approval request, decide it."""

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

import catalog.services as catalog_services
import provisioning.services as provisioning_services
from approvals.models import ApprovalRequest, ApprovalStatus
from catalog.models import Order
from portal.selectors import user_has_project_perm
from portal.services import audit_record, audited_transition


def approval_request_open(*, order: Order) -> ApprovalRequest:
    approval = ApprovalRequest.objects.create(order=order)
    audit_record(
        action="approval.opened",
        target=approval,
        to_state=approval.status,
        message="Waiting for a manager of the project",
        order_id=order.pk,
    )
    return approval


def approval_can_decide(*, user: AbstractUser, approval: ApprovalRequest) -> bool:
    """Managers of the order's project decide; nobody decides their own order (four eyes)."""
    return approval.order.requester_id != user.pk and user_has_project_perm(
        user=user, project=approval.order.project, perm="approve_for_project"
    )


@transaction.atomic
def approval_decide(
    *, user: AbstractUser, approval_id: int, approve: bool, comment: str = ""
) -> ApprovalRequest:
    """Approve or reject; an approval starts provisioning once the transaction commits."""
    approval = (
        ApprovalRequest.objects.select_for_update()
        .select_related("order__project", "order__item")
        .get(pk=approval_id)
    )
    if not approval_can_decide(user=user, approval=approval):
        raise PermissionDenied("You may not decide on this order.")
    if approval.status != ApprovalStatus.PENDING:
        raise ValidationError(f"This order was already {approval.status}.")
    with audited_transition(
        approval,
        field="status",
        action="approval.decided",
        actor=user,
        message=comment,
        order_id=approval.order_id,
    ):
        (approval.approve if approve else approval.reject)()
        approval.decided_by = user
        approval.decided_at = timezone.now()
        approval.comment = comment
        approval.save()
    order = approval.order
    catalog_services.order_transition(
        order=order,
        transition=order.approve if approve else order.reject,
        actor=user,
        message=comment,
    )
    if approve:
        provisioning_services.deployment_start(order=order)
    return approval
