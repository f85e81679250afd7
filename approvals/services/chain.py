"""The chain of stages of a request: opening the next stage (its approvers and their
emailed links), finishing the request, and telling the requester."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core import signing
from django.db.models import OuterRef, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from approvals.models import ApprovalRequest, ApprovalStage, StageStatus
from approvals.selectors.deciders import APPROVAL_LINK_SALT, role_members
from approvals.signals import approval_decided
from core.services import audit_record, audited_transition, notify

if TYPE_CHECKING:  # the order's model is above: approvals is handed orders, never imports them
    from catalog.models import Order


def waiting_stages(request: ApprovalRequest | OuterRef) -> QuerySet[ApprovalStage]:
    return ApprovalStage.objects.filter(request=request, status=StageStatus.WAITING)


def next_stage(approval: ApprovalRequest) -> ApprovalStage | None:
    return waiting_stages(approval).order_by("position").first()


def chain_advance(approval: ApprovalRequest, following: ApprovalStage | None) -> None:
    """Open the `following` stage (`next_stage`), or approve the request when none is left
    (every stage is approved then: none is left open to cancel)."""
    if following is None:
        approval_finish(
            approval,
            approve=True,
            actor=approval.decided_by,
            message=approval.comment,
            stages_open=False,
        )
        return
    following.request = approval  # so the request in hand shows the stage it opens
    stage_open(following)


def stage_open(stage: ApprovalStage, *, now=None) -> None:
    approval = stage.request
    now = now or timezone.now()
    stage.open()
    stage.opened_at = now
    stage.due_at = now + timedelta(hours=stage.sla_hours) if stage.sla_hours else None
    stage.save()
    approval.current_stage = stage
    approval.save(update_fields=["current_stage"])
    added = stage_approvers_add(stage, role=stage.role)
    audit_record(
        action="approval.stage_opened",
        target=approval,
        to_state=f"stage {stage.position}",
        message=f"{stage.name}: waiting for "
        + (user_names(added) or "nobody (no one holds the role)"),
        order_id=approval.order_id,
    )


def stage_approvers_add(stage: ApprovalStage, *, role: str) -> list[AbstractUser]:
    """Give the stage the people holding `role` (never the requester) and email each of them."""
    order = stage.request.order
    people = list(
        role_members(role=role, project=order.project, group_id=stage.group_id)
        .exclude(pk=order.requester_id)
        .exclude(pk__in=stage.approvers.values("pk"))
        .order_by("username")
    )
    stage.approvers.add(*people)
    for person in people:
        _notify_approver(stage, person)
    return people


def user_names(users) -> str:
    return ", ".join(user.get_username() for user in users)


def approval_link(*, stage: ApprovalStage, user: AbstractUser, decision: str) -> str:
    """A signed, expiring link to approve or reject one stage, valid only for `user`."""
    token = signing.TimestampSigner(salt=APPROVAL_LINK_SALT).sign_object(
        {"stage": stage.pk, "user": user.pk, "decision": decision}
    )
    return reverse("approvals:approval_link", kwargs={"token": token})


def _notify_approver(stage: ApprovalStage, user: AbstractUser) -> None:
    order = stage.request.order
    body = render_to_string(
        "email/approval_stage_opened.txt",
        {
            "order": order,
            "stage": stage,
            "approval": stage.request,
            "user": user,
            "base_url": settings.CANOPY_BASE_URL,
            "approve_url": approval_link(stage=stage, user=user, decision="approve"),
            "reject_url": approval_link(stage=stage, user=user, decision="reject"),
        },
    )
    notify(
        user=user,
        subject=f"Approval needed: order #{order.pk} {order.summary} ({stage.name})",
        body=body,
        url=reverse("approvals:approval_detail", kwargs={"approval_id": stage.request_id}),
    )


def requester_notify(order: Order, subject: str, body: str) -> None:
    notify(
        user=order.requester,
        subject=f"Order #{order.pk} {order.summary}: {subject}",
        body=body,
        url=reverse("catalog:order_detail", kwargs={"order_id": order.pk}),
    )


def approval_finish(
    approval: ApprovalRequest,
    *,
    approve: bool,
    actor: AbstractUser | None,
    message: str,
    stages_open: bool = True,
) -> None:
    """End the chain and announce the decision (`catalog.orders` approves or rejects the order;
    a worker then plans the deployment of an approved one)."""
    order = approval.order
    with audited_transition(
        approval,
        field="status",
        action="approval.decided",
        actor=actor,
        message=message,
        order_id=order.pk,
    ):
        (approval.approve if approve else approval.reject)()
        approval.decided_by = actor
        approval.decided_at = timezone.now()
        approval.comment = message
        approval.save()
    if stages_open:
        for stage in approval.stages.filter(status__in=[StageStatus.WAITING, StageStatus.PENDING]):
            stage.cancel()
            stage.save()
    approval_decided.send(
        sender=ApprovalRequest, order=order, approved=approve, actor=actor, message=message
    )
    requester_notify(
        order,
        "approved" if approve else "rejected",
        f"{'Approved' if approve else 'Rejected'} by {actor or approval.policy_name + ' policy'}"
        + (f": {message}" if message else "."),
    )
