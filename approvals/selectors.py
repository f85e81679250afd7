"""Reads for admission: who may decide what, which policy applies, quota demand and usage."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone
from guardian.models import GroupObjectPermission, UserObjectPermission

import provisioning.selectors as provisioning_selectors
from approvals.models import (
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalStage,
    ApprovalStatus,
    ApproverRole,
    Delegation,
    LedgerStatus,
    OrderKind,
    OverQuotaAction,
    PolicyStage,
    Quota,
    QuotaEntry,
    StageStatus,
)
from billing.models import Budget
from billing.pricing import monthly_quote
from billing.selectors import budget_check
from core.db import fetch_all
from core.models import OrganizationMembership, OrganizationRole, Project
from core.selectors import project_ids, project_list
from provisioning.models import CloudAccount, Resource

if TYPE_CHECKING:  # orders live in catalog, above this app: only handed in
    from catalog.models import Order

# Email links stay valid this long; following one still needs a login and the permission.
APPROVAL_LINK_MAX_AGE = 7 * 24 * 3600
APPROVAL_LINK_SALT = "approvals.link"


# --- who decides --------------------------------------------------------------------------------


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


# --- which policy -------------------------------------------------------------------------------


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


# --- quota --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Demand:
    """What an order (or a resource, or a day-2 change) takes from a quota."""

    servers: int = 0
    vcpus: int = 0
    ram_gb: Decimal = Decimal("0")
    storage_gb: int = 0
    monthly_cost: Decimal = Decimal("0")

    def _combine(self, other: Demand, op: Callable) -> Demand:
        return Demand(
            **{f.name: op(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)}
        )

    def __add__(self, other: Demand) -> Demand:
        return self._combine(other, operator.add)

    def __sub__(self, other: Demand) -> Demand:
        return self._combine(other, operator.sub)

    def gains(self) -> Demand:
        """Only what this takes: what a change frees stays taken until the change is done."""
        return self._combine(Demand(), max)


# Quota dimension → (limit field, label for messages).
DIMENSIONS = {
    "servers": ("max_servers", "server"),
    "vcpus": ("max_vcpus", "vCPU"),
    "ram_gb": ("max_ram_gb", "RAM (GB)"),
    "storage_gb": ("max_storage_gb", "storage (GB)"),
    "monthly_cost": ("max_monthly_cost", "monthly spend"),
}


def _size_table(account: CloudAccount | None, sizes: list | None = None):
    """size id → SizeInfo from PROV's cached options (or `sizes`, the account's option list
    when the caller has it), looked up once per call."""
    cache: dict = {}
    for option in sizes or []:
        cache.setdefault(option.id, option)  # the first of an id, as size_info picks

    def lookup(size: str):
        if account is None or not size:
            return None
        if size not in cache and sizes is None:
            cache[size] = provisioning_selectors.size_info(account=account, size=size)
        return cache.get(size)

    return lookup


def resource_demand(
    *,
    cloud_account: CloudAccount | None,
    resources: list[dict],
    monthly_cost: Decimal,
    sizes: list | None = None,
) -> Demand:
    """The quota a list of resolved specs takes (servers, their vCPUs and RAM, storage).
    `sizes`: the account's size options (`cloud_account_options`), when the caller has them."""
    size_of = _size_table(cloud_account, sizes)
    total = Demand(monthly_cost=monthly_cost)
    for spec in resources:
        props = spec.get("properties", {})
        count = int(spec.get("count", 1) or 1)
        kind = spec["kind"]
        if kind in ("server", "database", "autoscaling_group"):
            servers = count * int(props.get("desired", 1)) if kind == "autoscaling_group" else count
            size = size_of(str(props.get("size", "")))
            total += Demand(
                servers=servers,
                vcpus=servers * (size.vcpus if size else 0),
                ram_gb=servers * Decimal(str(size.ram_gb if size else 0)),
                storage_gb=count * int(props.get("storage_gb", 0) or 0),
            )
        elif kind == "volume":
            total += Demand(storage_gb=count * int(props.get("size_gb", 0) or 0))
    return total


def quotas_for_project(*, project: Project) -> list[Quota]:
    """The quotas that limit a project: its own and its organization's."""
    return list(
        Quota.objects.filter(
            Q(project=project) | Q(organization_id=project.organization_id)
        ).select_related("project", "organization")
    )


def quota_usage(*, quota: Quota) -> dict[str, Demand]:
    """`reserved` (admitted, not provisioned) and `used` (provisioned) figures under a quota."""
    entries = QuotaEntry.objects.filter(
        Q(project=quota.project_id)
        if quota.project_id
        else Q(project__organization=quota.organization_id)
    )
    sums = {
        row["status"]: row
        for row in entries.exclude(status=LedgerStatus.RELEASED)
        .values("status")
        .annotate(*[Sum(name) for name in DIMENSIONS])
        .order_by()
    }

    def figures(status: str) -> Demand:
        row, zero = sums.get(status, {}), Demand()
        return Demand(
            **{name: row.get(f"{name}__sum") or getattr(zero, name) for name in DIMENSIONS}
        )

    return {"reserved": figures(LedgerStatus.RESERVED), "used": figures(LedgerStatus.COMMITTED)}


@dataclass(frozen=True)
class QuotaLine:
    """One limited dimension of one quota, with what it would be at after the demand."""

    owner: object
    label: str
    wanted: Decimal
    taken: Decimal
    limit: Decimal

    @property
    def after(self) -> Decimal:
        return self.taken + self.wanted

    @property
    def exceeded(self) -> bool:
        return self.after > self.limit


def quota_lines(*, quotas: list[Quota], demand: Demand) -> list[QuotaLine]:
    """Every limited dimension the demand touches, under each quota."""
    lines = []
    for quota in quotas:
        usage = quota_usage(quota=quota)
        taken = usage["reserved"] + usage["used"]
        for name, (limit_field, label) in DIMENSIONS.items():
            limit = getattr(quota, limit_field)
            wanted = getattr(demand, name)
            if limit is not None and wanted > 0:
                owner = quota.project or quota.organization
                lines.append(QuotaLine(owner, label, wanted, getattr(taken, name), limit))
    return lines


def quota_problems(*, quotas: list[Quota], demand: Demand) -> list[str]:
    """Why `demand` does not fit, one message per exceeded limit (empty when it fits)."""
    return [
        f"Over the {line.label} quota of {line.owner}: this needs {line.wanted}, "
        f"{line.taken} of {line.limit} are already taken."
        for line in quota_lines(quotas=quotas, demand=demand)
        if line.exceeded
    ]


# How a quota effect line starts when the order would not fit (the estimate warns on it).
QUOTA_EXCEEDED = "this order exceeds"


def quota_effect(
    *,
    project: Project,
    cloud_account: CloudAccount | None,
    resources: list[dict],
    monthly_cost: Decimal | None = None,
) -> list[str]:
    """Human messages on what an order would do to the project's quotas, for the quote.
    `monthly_cost`: the order's price when the caller has it (else it is priced here)."""
    cost = monthly_cost
    if cost is None:
        cost = monthly_quote(
            cloud_account_id=cloud_account.pk if cloud_account else None, resources=resources
        )
    demand = resource_demand(cloud_account=cloud_account, resources=resources, monthly_cost=cost)
    return _effect_messages(project=project, demand=demand)


def _effect_messages(*, project: Project, demand: Demand) -> list[str]:
    return [
        f"{QUOTA_EXCEEDED} {line.owner}'s {line.label} quota ({line.after} of {line.limit})"
        if line.exceeded
        else f"this order puts {line.owner} at "
        f"{round(Decimal(line.after) * 100 / Decimal(line.limit)) if line.limit else 100} % "
        f"of its {line.label} quota"
        for line in quota_lines(quotas=quotas_for_project(project=project), demand=demand)
    ]


def admission_over(*, order: Order, demand: Demand, quotas: list[Quota]) -> dict[str, list[str]]:
    """The quota and refusing-budget limits the order would exceed, by kind (empty: it fits)."""
    over: dict[str, list[str]] = {}
    if problems := quota_problems(quotas=quotas, demand=demand):
        over["quota"] = problems
    # What the order adds to the bill (a new order: its estimate); one that saves never
    # breaks a budget.
    if order.monthly_cost_delta > 0 and (
        refusal := budget_check(project=order.project, monthly_cost=order.monthly_cost_delta)
    ):
        over["budget"] = [refusal]
    return over


def change_demand(*, order: Order) -> tuple[Demand, set[str]]:
    """What a change order takes from the quotas (negative where it frees something) and the
    kinds of resource it touches. A destroy frees its resources' share when they are deleted
    and a lease extension takes nothing new: both take nothing here."""
    resource = order.resource
    if resource is None:
        kinds = set(
            Resource.objects.filter(order_id=order.changes_order_id)
            .exclude(state__in=["deleted", "missing"])
            .values_list("kind", flat=True)
        )
        return Demand(), kinds
    if order.kind == OrderKind.DESTROY:
        return Demand(), {resource.kind}
    after = provisioning_selectors.changed_properties(
        resource=resource, action=order.action, params=order.parameters
    )
    demand = resource_demand(
        cloud_account=resource.cloud_account,
        resources=[{"kind": resource.kind, "count": 1, "properties": after}],
        monthly_cost=order.monthly_cost_delta,
    ) - resource_demand(
        cloud_account=resource.cloud_account,
        resources=[{"kind": resource.kind, "count": 1, "properties": resource.properties}],
        monthly_cost=Decimal("0"),
    )
    return demand, {resource.kind}


def change_refusal(*, order: Order) -> dict[str, list[str]]:
    """Why admission would refuse the unsaved change order now (empty when it would not), as
    `admission_refusal` for a new order."""
    demand, kinds = change_demand(order=order)
    over = admission_over(
        order=order, demand=demand, quotas=quotas_for_project(project=order.project)
    )
    if not over:
        return {}
    match = policy_for_order(order=order, kinds=kinds, over_quota=True)
    return over if policy_refuses(match) else {}


def change_quota_effect(*, order: Order) -> list[str]:
    """`quota_effect` of an unsaved change order (nothing for a change that takes nothing)."""
    demand, _ = change_demand(order=order)
    return _effect_messages(project=order.project, demand=demand.gains())


def policy_refuses(match: PolicyMatch) -> bool:
    """Whether an order over a limit is refused (rather than given an extra stage)."""
    return match.policy is None or match.policy.over_quota_action == OverQuotaAction.REFUSE


# One row per quota of the project with its limits and ledger sums (one row of nulls when there
# is none), and whether a budget of the organization refuses orders. Portable SQL: SQLite too.
_SCREEN_SQL = (
    "SELECT t.*, EXISTS (SELECT 1 FROM {budget} b"
    "  WHERE b.refuse_orders_over_budget AND b.organization_id = %s)"
    " FROM (SELECT 1) one LEFT JOIN ("
    "  SELECT {limits}, {sums} FROM {quota} q"
    "  JOIN {project} p ON p.id = q.project_id OR p.organization_id = q.organization_id"
    "  LEFT JOIN {entry} e ON e.project_id = p.id AND e.status <> %s"
    "  WHERE q.project_id = %s OR q.organization_id = %s GROUP BY q.id"
    " ) t ON 1 = 1"
).format(
    budget=Budget._meta.db_table,
    quota=Quota._meta.db_table,
    project=Project._meta.db_table,
    entry=QuotaEntry._meta.db_table,
    limits=", ".join(f"q.{limit}" for limit, _ in DIMENSIONS.values()),
    sums=", ".join(f"COALESCE(SUM(e.{name}), 0)" for name in DIMENSIONS),
)


def _admission_screen(*, project: Project, demand: Demand) -> bool:
    """Whether the demand surely passes the pre-check, in one statement: it fits every quota of
    the project (`quota_problems` of `quotas_for_project`, from each quota's limits and its
    reserved and committed ledger sums) and no budget of the organization refuses orders (a
    superset of those `budget_check` reads, so billing's rule decides whenever one exists).

    Plain SQL, prepared (`core.db`), on purpose: it runs on every order request, where
    building the equivalent ORM queries cost ten times what PostgreSQL takes to answer them."""
    organization = project.organization_id
    rows = fetch_all(_SCREEN_SQL, [organization, LedgerStatus.RELEASED, project.pk, organization])
    count = len(DIMENSIONS)
    wanted = [getattr(demand, name) for name in DIMENSIONS]
    over_quota = any(
        # Decimal(str()): SQLite answers floats for the decimal columns
        limit is not None and want > 0 and Decimal(str(taken)) + want > Decimal(str(limit))
        for row in rows
        for limit, taken, want in zip(row[:count], row[count : 2 * count], wanted, strict=True)
    )
    return not over_quota and not rows[0][-1]


def admission_refusal(
    *, order: Order, resources: list[dict], sizes: list | None = None
) -> dict[str, list[str]]:
    """The submission's lock-free pre-check of an unsaved order: why admission would refuse it
    now (empty when it would be admitted). It reads without locking, so two orders racing for
    the last of a quota may both pass; admission re-checks under the quota rows' lock.
    `sizes`: as for `resource_demand`."""
    demand = resource_demand(
        cloud_account=order.cloud_account,
        resources=resources,
        monthly_cost=order.estimated_monthly_cost,
        sizes=sizes,
    )
    # Most orders pass a cheap screen; the others take the full checks, whose messages name
    # the quota's owner and the budget.
    if _admission_screen(project=order.project, demand=demand):
        return {}
    over = admission_over(
        order=order, demand=demand, quotas=quotas_for_project(project=order.project)
    )
    if not over:
        return {}  # e.g. under the organization's refusing budget: no policy lookup
    match = policy_for_order(
        order=order, kinds={spec["kind"] for spec in resources}, over_quota=True
    )
    return over if policy_refuses(match) else {}


@dataclass(frozen=True)
class QuotaRow:
    """One quota as its page shows it: per dimension, the limit and what is taken."""

    quota: Quota
    lines: list[tuple[str, object, object]]  # (label, limit or None, used + reserved)


def quota_rows(*, user: AbstractUser) -> list[QuotaRow]:
    """The quotas the user can see, with what is used or reserved under each limit."""
    rows = []
    for quota in quota_list(user=user):
        usage = quota_usage(quota=quota)
        rows.append(
            QuotaRow(
                quota=quota,
                lines=[
                    (
                        label,
                        getattr(quota, limit),
                        getattr(usage["used"], name) + getattr(usage["reserved"], name),
                    )
                    for name, (limit, label) in DIMENSIONS.items()
                ],
            )
        )
    return rows


def quota_list(*, user: AbstractUser) -> QuerySet[Quota]:
    """Quotas of the projects (and their organizations) the user can see."""
    visible = project_list(user=user)
    return (
        Quota.objects.filter(
            Q(project__in=visible.values("pk")) | Q(organization__in=visible.values("organization"))
        )
        .select_related("project", "organization")
        .order_by("organization__name", "project__name", "id")
    )


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
