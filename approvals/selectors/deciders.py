"""Who decides: the requests a user sees and may decide, delegations, the approvers
a role names, signed approval links and what a decision did."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.db.models import Q, QuerySet
from django.utils import timezone
from guardian.models import GroupObjectPermission, UserObjectPermission

from approvals.models import (
    ApprovalDecision,
    ApprovalRequest,
    ApprovalStage,
    ApprovalStatus,
    ApproverRole,
    Delegation,
    StageStatus,
)
from core.models import OrganizationMembership, OrganizationRole, Project
from core.selectors import project_ids

if TYPE_CHECKING:  # orders live in catalog, above this app: only handed in
    pass


# Email links stay valid this long; following one still needs a login and the permission.
APPROVAL_LINK_MAX_AGE = 7 * 24 * 3600


APPROVAL_LINK_SALT = "approvals.link"


def delegators_of(*, user: AbstractUser, on: date | None = None) -> QuerySet:
    """The ids of the people `user` stands in for today."""
    on = on or timezone.localdate()
    return Delegation.objects.filter(delegate=user, starts_on__lte=on, ends_on__gte=on).values(
        "delegator"
    )


def approval_list(*, user: AbstractUser) -> QuerySet[ApprovalRequest]:
    """Approval requests the user is (or was) an approver of, directly or as a delegate; never
    their own orders."""
    if not user.is_authenticated:
        return ApprovalRequest.objects.none()
    involved = ApprovalStage.objects.filter(
        Q(approvers=user) | Q(approvers__in=delegators_of(user=user))
    ).values("request")
    decided = ApprovalDecision.objects.filter(user=user).values("stage__request")
    return (
        ApprovalRequest.objects.filter(Q(pk__in=involved) | Q(pk__in=decided))
        .exclude(order__requester=user)
        .select_related(
            "order__item", "order__project", "order__requester", "decided_by", "current_stage"
        )
    )


def approval_inbox(*, user: AbstractUser) -> QuerySet[ApprovalRequest]:
    """Pending requests whose open stage the user can decide now."""
    if not user.is_authenticated:
        return ApprovalRequest.objects.none()
    mine = ApprovalDecision.objects.filter(Q(user=user) | Q(on_behalf_of=user))
    return (
        approval_list(user=user)
        .filter(status=ApprovalStatus.PENDING, current_stage__status=StageStatus.PENDING)
        .filter(
            Q(current_stage__approvers=user)
            | Q(current_stage__approvers__in=delegators_of(user=user))
        )
        .exclude(current_stage__in=mine.values("stage"))
        .exclude(distinct_approvers=True, pk__in=mine.values("stage__request"))
        .distinct()
    )


def pending_approval_count(*, user: AbstractUser) -> int:
    return approval_inbox(user=user).count()


def pending_approval_total(*, user: AbstractUser) -> int:
    """Requests waiting for a decision in every project the user can view, whoever decides."""
    return ApprovalRequest.objects.filter(
        status=ApprovalStatus.PENDING,
        order__project__in=project_ids(user=user, perm="view_project"),
    ).count()


def stage_acting_for(
    *, user: AbstractUser, stage: ApprovalStage
) -> tuple[bool, AbstractUser | None]:
    """Whether `user` may decide `stage` now, and for whom when standing in as a delegate.

    Four eyes: the requester never decides (nor their delegate for them); with distinct
    approvers, nobody decides two stages of one order.
    """
    request = stage.request
    requester_id = request.order.requester_id
    if user.pk == requester_id or stage.status != StageStatus.PENDING:
        return False, None
    decided = ApprovalDecision.objects.filter(stage__request=request, user__isnull=False)
    if not request.distinct_approvers:
        decided = decided.filter(stage=stage)
    # Who decided, and for whom they stood in: neither decides again. (Subqueries: an approver
    # deciding for themselves costs one query.)
    done = Q(pk__in=decided.values("user")) | Q(
        pk__in=decided.exclude(on_behalf_of=None).values("on_behalf_of")
    )
    approvers = stage.approvers.exclude(done).exclude(pk=requester_id)
    user_decided = decided.filter(Q(user=user) | Q(on_behalf_of=user))
    if approvers.filter(pk=user.pk).exists():
        return True, None
    if user_decided.exists():
        return False, None
    standing_in_for = approvers.filter(pk__in=delegators_of(user=user)).first()
    return standing_in_for is not None, standing_in_for


def role_members(*, role: str, project: Project, group_id: int | None = None) -> QuerySet:
    """The people who hold an approver role for a project."""
    User = get_user_model()
    if role == ApproverRole.PROJECT_MANAGER:
        # Who holds approve_for_project on the project, directly or through a group: the same
        # answer as guardian's get_users_with_perms, in one query instead of several.
        grant = {
            "permission__codename": "approve_for_project",
            "permission__content_type": ContentType.objects.get_for_model(Project),
            "object_pk": str(project.pk),
        }
        return User.objects.filter(
            Q(pk__in=UserObjectPermission.objects.filter(**grant).values("user"))
            | Q(groups__in=GroupObjectPermission.objects.filter(**grant).values("group"))
        ).distinct()
    if role == ApproverRole.GROUP:
        return User.objects.filter(groups=group_id)
    org_role = OrganizationRole.FINANCE if role == ApproverRole.FINANCE else OrganizationRole.ADMIN
    return User.objects.filter(
        pk__in=OrganizationMembership.objects.filter(
            organization_id=project.organization_id, role=org_role
        ).values("user")
    )


def delegation_list(*, user: AbstractUser) -> QuerySet[Delegation]:
    """Delegations the user gave or received."""
    if not user.is_authenticated:
        return Delegation.objects.none()
    return Delegation.objects.filter(Q(delegator=user) | Q(delegate=user)).select_related(
        "delegator", "delegate"
    )


def approval_link_resolve(*, user: AbstractUser, token: str) -> tuple[ApprovalRequest, str]:
    """The request and decision an emailed link stands for. The link names its recipient and
    the permission is checked again now, so a forwarded or stale link grants nothing.
    Raises `signing.BadSignature` (or its `SignatureExpired`) and `ApprovalRequest.DoesNotExist`.
    """
    data = signing.TimestampSigner(salt=APPROVAL_LINK_SALT).unsign_object(
        token, max_age=APPROVAL_LINK_MAX_AGE
    )
    if data["user"] != user.pk:
        raise signing.BadSignature("This link was sent to someone else.")
    approval = approval_list(user=user).get(
        status=ApprovalStatus.PENDING,
        current_stage_id=data["stage"],
        current_stage__status=StageStatus.PENDING,
    )
    return approval, data["decision"]


def decision_outcome(*, approval_id: int, stage_position: int) -> str:
    """What one decision did, in words, for the person who made it: the order approved or
    rejected, "approved stage 1 of 2, waiting for Finance", or an "all" stage still waiting
    for its other approvers."""
    approval = ApprovalRequest.objects.select_related("current_stage").get(pk=approval_id)
    order = f"Order #{approval.order_id}"
    if approval.status == ApprovalStatus.REJECTED:
        return f"{order} rejected."
    if approval.status == ApprovalStatus.APPROVED:
        return f"{order} approved."
    total = approval.stages.count()
    stage = approval.current_stage
    if stage is not None and stage.position == stage_position:
        return (
            f"{order}: your approval is recorded; stage {stage_position} of {total} "
            f"({stage.name}) waits for its other approvers."
        )
    waiting = f", waiting for {stage.name}" if stage is not None else ""
    return f"{order}: approved stage {stage_position} of {total}{waiting}."


def order_ids_awaiting_from(*, approver: AbstractUser, requester: AbstractUser) -> list[int]:
    """The requester's orders whose open stage waits for the approver: a delegation to the
    requester leaves them with the approver (nobody approves their own order)."""
    return list(
        ApprovalRequest.objects.filter(
            order__requester=requester,
            status=ApprovalStatus.PENDING,
            current_stage__approvers=approver,
        )
        .order_by("order_id")
        .values_list("order_id", flat=True)
    )
