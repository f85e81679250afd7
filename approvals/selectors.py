from django.contrib.auth.models import AbstractUser
from django.db.models import QuerySet

from approvals.models import ApprovalRequest, ApprovalStatus
from portal.selectors import project_ids


def approval_list(*, user: AbstractUser) -> QuerySet[ApprovalRequest]:
    """Approval requests the user may decide: their projects' orders, never their own."""
    if not user.is_authenticated:
        return ApprovalRequest.objects.none()
    return (
        ApprovalRequest.objects.filter(
            order__project__in=project_ids(user=user, perm="approve_for_project")
        )
        .exclude(order__requester=user)
        .select_related("order__item", "order__project", "order__requester", "decided_by")
    )


def pending_approval_count(*, user: AbstractUser) -> int:
    return approval_list(user=user).filter(status=ApprovalStatus.PENDING).count()
