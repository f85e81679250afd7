"""Opening a request: admission of a submitted order reserves its quota, finds its
policy, and auto-approves it or opens its chain of stages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from approvals.models import ApprovalRequest, ApprovalStage, ApproverRole, LedgerStatus
from approvals.selectors.admission import admission_over
from approvals.selectors.policies import (
    PolicyMatch,
    policy_auto_approves,
    policy_for_order,
    policy_refuses,
    policy_stages_kept,
)
from approvals.services.chain import approval_finish, chain_advance, next_stage, requester_notify
from approvals.services.quota import ledger_entry, order_demand, quotas_lock
from approvals.signals import order_admission_decided
from core.services import audit_record

if TYPE_CHECKING:  # the order's model is above: approvals is handed orders, never imports them
    from catalog.models import Order


def order_admission(*, order: Order) -> None:
    """Admission of a submitted order (locked by its owner, `catalog.orders.order_admit`):
    reserve its quota under the quota rows' lock, check the refusing budgets, find its policy,
    then auto-approve it or open its first stage. An order over a limit that its policy does not
    route to an extra stage is refused with the reason, and the requester is told (the
    submission's pre-check refuses most such orders at once; this is the authority when two
    orders race for the last of a quota). The outcome is announced
    (`approvals.signals.order_admission_decided`, then `approval_decided` when a policy
    approves it at once): the owner moves the order.
    """
    demand, kinds = order_demand(order)
    over = admission_over(order=order, demand=demand, quotas=quotas_lock(project=order.project))
    match = policy_for_order(order=order, kinds=kinds, over_quota=bool(over))
    if over and policy_refuses(match):
        _order_refuse(order, over)
        return
    order_admission_decided.send(sender=ApprovalRequest, order=order, refusal="")
    ledger_entry(
        status=LedgerStatus.RESERVED, demand=demand.gains(), project=order.project, order=order
    )
    approval = ApprovalRequest.objects.create(
        order=order,
        policy=match.policy,
        policy_name=match.name,
        reason=match.reason,
        distinct_approvers=bool(match.policy and match.policy.distinct_approvers),
        reject_needs_reason=bool(match.policy and match.policy.reject_needs_reason),
    )
    _stages_create(approval, match, over=over)
    audit_record(
        action="approval.opened",
        target=approval,
        to_state=approval.status,
        message=f"Policy {match.name} applies: {match.reason}",
        order_id=order.pk,
    )
    if policy_auto_approves(match=match, order=order) and not over:
        approval_finish(
            approval,
            approve=True,
            actor=None,
            message=f"Policy {match.name} approved it: it adds {order.monthly_cost_delta}/month, "
            f"below {match.policy.auto_approve_below}, and the quota fits.",
        )
    else:
        chain_advance(approval, next_stage(approval))


def _order_refuse(order: Order, over: dict[str, list[str]]) -> None:
    """Admission refuses the order: it ends `rejected` with the reason, which the requester
    sees on the order page and in a notification."""
    message = " ".join(message for messages in over.values() for message in messages)
    order_admission_decided.send(sender=ApprovalRequest, order=order, refusal=message)
    requester_notify(order, "refused", message)


def _stages_create(
    approval: ApprovalRequest, match: PolicyMatch, *, over: dict[str, list[str]]
) -> None:
    cost = approval.order.estimated_monthly_cost
    templates = list(match.policy.stages.all()) if match.policy else []
    kept = policy_stages_kept(match=match, order=approval.order)
    stages = [
        ApprovalStage(
            request=approval,
            position=index,
            name=template.name,
            role=template.role,
            group=template.group,
            mode=template.mode,
            sla_hours=template.sla_hours,
            on_timeout=template.on_timeout,
        )
        for index, template in enumerate(kept, start=1)
    ]
    if not kept:  # no policy, or every stage skipped: a manager decides, never nobody
        stages.append(
            ApprovalStage(
                request=approval, position=1, name="Manager", role=ApproverRole.PROJECT_MANAGER
            )
        )
    if over:
        stages.append(
            ApprovalStage(
                request=approval,
                position=len(stages) + 1,
                name=" and ".join(f"Over {key}" for key in over),
                role=match.policy.over_quota_role,
            )
        )
    ApprovalStage.objects.bulk_create(stages)
    skipped = [t.name for t in templates if t not in kept]
    if skipped:
        audit_record(
            action="approval.stages_skipped",
            target=approval,
            message=f"Skipped by their cost rule (estimate {cost}/month): {', '.join(skipped)}",
            order_id=approval.order_id,
        )
