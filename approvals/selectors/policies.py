"""Which policy: the approval policy that matches an order, why, and the stages it
keeps; the policies a user sees; an order's approval in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractUser
from django.db.models import Q, QuerySet

from approvals.models import (
    ApprovalPolicy,
    ApprovalRequest,
    ApproverRole,
    OverQuotaAction,
    PolicyStage,
)
from approvals.selectors.deciders import role_members
from core.models import OrganizationMembership, OrganizationRole
from core.selectors import project_list

if TYPE_CHECKING:  # orders live in catalog, above this app: only handed in
    from catalog.models import Order


@dataclass(frozen=True)
class PolicyMatch:
    policy: ApprovalPolicy | None
    reasons: list[str]

    @property
    def name(self) -> str:
        return self.policy.name if self.policy else "Default"

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


# How much each criterion makes a policy more specific; each outweighs all those below it
# together (the project outweighs everything else).
SPECIFICITY = {
    "project": 256,
    "catalog_item": 128,
    "category": 64,
    "organization": 32,
    "only_over_quota": 16,
    "order_kinds": 8,
    "resource_kinds": 4,
    "cost": 2,
    "cost_delta": 1,
}


def policy_for_order(*, order: Order, kinds: set[str], over_quota: bool) -> PolicyMatch:
    """The most specific active policy matching the order, and the criteria that matched."""
    cost, delta = order.estimated_monthly_cost, order.monthly_cost_delta
    candidates = ApprovalPolicy.objects.filter(
        Q(is_active=True),
        Q(organization__isnull=True) | Q(organization_id=order.project.organization_id),
        Q(project__isnull=True) | Q(project_id=order.project_id),
        Q(catalog_item__isnull=True) | Q(catalog_item_id=order.item_id),
        Q(category__isnull=True) | Q(category_id=order.item.category_id),
        Q(min_monthly_cost__isnull=True) | Q(min_monthly_cost__lte=cost),
        Q(max_monthly_cost__isnull=True) | Q(max_monthly_cost__gte=cost),
        Q(min_cost_delta__isnull=True) | Q(min_cost_delta__lte=delta),
        Q(max_cost_delta__isnull=True) | Q(max_cost_delta__gte=delta),
    ).select_related("organization", "project", "catalog_item", "category")
    best: tuple[int, int, ApprovalPolicy, list[str]] | None = None
    for policy in candidates:
        if policy.only_over_quota and not over_quota:
            continue
        if policy.resource_kinds and not kinds & set(policy.resource_kinds):
            continue
        if policy.order_kinds and order.kind not in policy.order_kinds:
            continue
        matched = _matched_criteria(policy, order=order, kinds=kinds)
        score = sum(SPECIFICITY[key] for key in matched)
        if best is None or (score, -policy.pk) > (best[0], best[1]):
            best = (score, -policy.pk, policy, list(matched.values()))
    if best is None:
        return PolicyMatch(None, ["no policy matches this order: a manager of the project decides"])
    policy, reasons = best[2], best[3]
    return PolicyMatch(policy, reasons or ["it applies to every order"])


def _matched_criteria(policy: ApprovalPolicy, *, order: Order, kinds: set[str]) -> dict:
    cost, delta = order.estimated_monthly_cost, order.monthly_cost_delta
    matched = {}
    if policy.project_id:
        matched["project"] = f"project is {policy.project}"
    if policy.catalog_item_id:
        matched["catalog_item"] = f"item is {policy.catalog_item}"
    if policy.category_id:
        matched["category"] = f"category is {policy.category}"
    if policy.organization_id:
        matched["organization"] = f"organization is {policy.organization}"
    if policy.only_over_quota:
        matched["only_over_quota"] = "the order exceeds a quota or budget"
    if policy.order_kinds:
        matched["order_kinds"] = f"it is a {order.get_kind_display().lower()} order"
    if policy.resource_kinds:
        matched["resource_kinds"] = (
            f"it contains {', '.join(sorted(kinds & set(policy.resource_kinds)))}"
        )
    if policy.min_monthly_cost is not None or policy.max_monthly_cost is not None:
        low = policy.min_monthly_cost if policy.min_monthly_cost is not None else "0"
        high = policy.max_monthly_cost if policy.max_monthly_cost is not None else "∞"
        matched["cost"] = f"estimate {cost}/month is within {low} to {high}"
    if policy.min_cost_delta is not None or policy.max_cost_delta is not None:
        low = policy.min_cost_delta if policy.min_cost_delta is not None else "-∞"
        high = policy.max_cost_delta if policy.max_cost_delta is not None else "∞"
        matched["cost_delta"] = f"it adds {delta:+}/month, within {low} to {high}"
    return matched


def policy_stages_kept(*, match: PolicyMatch, order: Order) -> list[PolicyStage]:
    """The policy's stages that apply to the order: those its cost rule does not skip."""
    cost = order.estimated_monthly_cost
    templates = list(match.policy.stages.all()) if match.policy else []
    return [t for t in templates if t.skip_at_or_below is None or cost > t.skip_at_or_below]


def policy_auto_approves(*, match: PolicyMatch, order: Order) -> bool:
    """Whether the policy approves the order at once: it adds less to the monthly bill than
    the policy's threshold (a new order adds its whole estimate)."""
    threshold = match.policy.auto_approve_below if match.policy else None
    return threshold is not None and order.monthly_cost_delta < threshold


def approval_preview(*, order: Order, kinds: set[str]) -> str:
    """Who would have to approve the unsaved order, in words, for the page that confirms it."""
    match = policy_for_order(order=order, kinds=kinds, over_quota=False)
    if policy_auto_approves(match=match, order=order):
        return f"No approval: policy {match.name} approves it at once."
    kept = policy_stages_kept(match=match, order=order)
    steps = [(stage.name, stage.role, stage.group_id) for stage in kept] or [
        ("Manager", ApproverRole.PROJECT_MANAGER, None)
    ]
    chain = []
    for name, role, group_id in steps:
        people = role_members(role=role, project=order.project, group_id=group_id).exclude(
            pk=order.requester_id
        )
        names = ", ".join(sorted(user.get_username() for user in people)) or "nobody yet"
        chain.append(f"{name} ({names})")
    return f"Needs approval under policy {match.name}: {' then '.join(chain)}."


def policy_list(*, user: AbstractUser) -> QuerySet[ApprovalPolicy]:
    """Policies on a need-to-know basis: staff see all; an organization's admins every policy
    that can apply in it; anyone else those that can apply to their own projects (the
    project's own, and those not tied to a project) and those that decided their own orders."""
    policies = ApprovalPolicy.objects.prefetch_related("stages")
    if user.is_staff:
        return policies
    if not user.is_authenticated:
        return policies.none()
    administered = OrganizationMembership.objects.filter(
        user=user, role=OrganizationRole.ADMIN
    ).values("organization")
    projects = project_list(user=user)
    return policies.filter(
        Q(organization__in=administered)
        | Q(project__organization__in=administered)
        | Q(project__in=projects.values("pk"))
        | Q(
            Q(project__isnull=True),
            Q(organization__isnull=True) | Q(organization__in=projects.values("organization")),
        )
        | Q(pk__in=ApprovalRequest.objects.filter(order__requester=user).values("policy"))
    )


def approval_summary(*, order: Order) -> dict | None:
    """What the order page shows: the policy that applied and why, and the chain's progress."""
    approval = ApprovalRequest.objects.filter(order=order).select_related("current_stage").first()
    if approval is None:
        return None
    stages = list(
        approval.stages.select_related("group")
        .prefetch_related("approvers")
        .prefetch_related("decisions__user", "decisions__on_behalf_of")
    )
    return {
        "approval": approval,
        "policy": approval.policy_name or "Default",
        "reason": approval.reason,
        "status": approval.status,
        "current_stage": approval.current_stage,
        "stages": stages,
    }


def policy_refuses(match: PolicyMatch) -> bool:
    """Whether an order over a limit is refused (rather than given an extra stage)."""
    return match.policy is None or match.policy.over_quota_action == OverQuotaAction.REFUSE
