"""Deciding: one approver's decision on the open stage, and the one path that
concludes a stage (a person's decision or a policy's on timeout)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef

from approvals.models import ApprovalDecision, ApprovalRequest, ApprovalStage, ApprovalStatus
from approvals.selectors.deciders import approval_list, stage_acting_for
from approvals.services.chain import (
    approval_finish,
    chain_advance,
    next_stage,
    requester_notify,
    waiting_stages,
)
from core.services import audit_record


def approval_can_decide(*, user: AbstractUser, approval: ApprovalRequest) -> bool:
    """Whether the user may decide the request's open stage now (directly or as a delegate)."""
    stage = approval.current_stage
    return (
        approval.status == ApprovalStatus.PENDING
        and stage is not None
        and stage_acting_for(user=user, stage=stage)[0]
    )


@transaction.atomic
def approval_decide(
    *, user: AbstractUser, approval_id: int, approve: bool, comment: str = ""
) -> ApprovalRequest:
    """One approver's decision on the open stage. A rejection ends the order; an approval
    completes the stage (mode "any", or the last of "all") and opens the next one. The last
    approval announces the decision and returns: a worker plans the deployment.

    Raises ApprovalRequest.DoesNotExist for a request the user does not see (`approval_list`).
    """
    approval = (
        approval_list(user=user)
        .select_for_update(of=("self",))
        .select_related("order__cloud_account")
        .annotate(stages_waiting=Exists(waiting_stages(OuterRef("pk"))))
        .get(pk=approval_id)
    )
    if approval.status != ApprovalStatus.PENDING:
        raise ValidationError(f"This order was already {approval.status}.")
    if not approve and approval.reject_needs_reason and not comment.strip():
        raise ValidationError(
            {"comment": [f"Policy {approval.policy_name} asks for a reason to reject: say why."]}
        )
    stage = approval.current_stage
    stage.request = approval  # the request and its order are loaded already
    allowed, on_behalf_of = stage_acting_for(user=user, stage=stage)
    if not allowed:
        raise PermissionDenied("You may not decide on this order.")
    ApprovalDecision.objects.create(
        stage=stage, user=user, on_behalf_of=on_behalf_of, approve=approve, comment=comment
    )
    who = f"{user} for {on_behalf_of}" if on_behalf_of else str(user)
    audit_record(
        action="approval.stage_decided",
        target=approval,
        actor=user,
        to_state=f"stage {stage.position} {'approved' if approve else 'rejected'}",
        message=f"{stage.name}: {'approved' if approve else 'rejected'} by {who}"
        + (f" (delegated by {on_behalf_of})" if on_behalf_of else "")
        + (f": {comment}" if comment else ""),
        order_id=approval.order_id,
    )
    stage_conclude(approval, stage, approve=approve, actor=user, comment=comment)
    return approval


def stage_conclude(
    approval: ApprovalRequest,
    stage: ApprovalStage,
    *,
    approve: bool,
    actor: AbstractUser | None,
    comment: str,
) -> None:
    """The one path that concludes a decision on a stage: a person's (`approval_decide`) or its
    policy's on timeout (`stage_escalate`: no actor, it decides the whole stage). A rejection
    ends the request; an approval completes the stage (mode "any", or the last of "all") and
    opens the next one, or approves the request when none is left."""
    if not approve:
        stage.reject()
        stage.save()
        approval_finish(approval, approve=False, actor=actor, message=comment)
        return
    if actor is not None and not _all_approved(stage):
        return  # an "all" stage waits for the others
    stage.approve()
    stage.save()
    approval.decided_by, approval.comment = actor, comment
    following = next_stage(approval) if getattr(approval, "stages_waiting", True) else None
    if following is not None:
        requester_notify(
            approval.order,
            f"{stage.name} approved",
            f"{stage.name} approved by {actor or approval.policy_name + ' policy'}; "
            "the next stage is open.",
        )
    chain_advance(approval, following)


def _all_approved(stage: ApprovalStage) -> bool:
    """Mode "any": one approval is enough. Mode "all": every approver approved (themselves or
    through a delegate)."""
    if stage.mode != "all":
        return True
    approved = stage.decisions.filter(approve=True)
    done = set(approved.values_list("user", flat=True)) | set(
        approved.values_list("on_behalf_of", flat=True)
    )
    return not stage.approvers.exclude(pk__in=done - {None}).exists()
