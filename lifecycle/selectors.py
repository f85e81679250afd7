"""Reads for lifecycle; visibility follows the order's (or resource's) project, like provisioning:
leases and reclaim cases for whoever sees the project, savings for whoever sees its costs."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth.models import AbstractUser
from django.db.models import Count, DateTimeField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone

from billing.selectors import Period, month_period, user_currency
from catalog.models import ChangeAction, Order
from catalog.selectors import OPEN_STATUSES, order_list
from lifecycle.models import (
    Grade,
    IdlePolicy,
    Lease,
    LeaseState,
    ReclaimCase,
    ResourceKeep,
    Saving,
)
from portal.models import OrganizationMembership, OrganizationRole, Project
from portal.selectors import project_ids, user_has_project_perm
from provisioning.models import Resource

CENT = Decimal("0.01")
# Leases expiring within this are "expiring soon" (the first warning goes out then).
SOON = timedelta(days=7)


# --- leases -------------------------------------------------------------------------------
def lease_limit(*, lease: Lease) -> datetime | None:
    """The latest expiry people may choose themselves: the item's maximum from the start."""
    days = lease.order.item.lease_max_days
    return None if days is None else lease.starts_at + timedelta(days=days)


def lease_list(*, user: AbstractUser) -> QuerySet[Lease]:
    return Lease.objects.filter(
        order__project__in=project_ids(user=user, perm="view_project")
    ).select_related("order__item", "order__project", "order__requester")


def lease_extension_orders(*, user: AbstractUser) -> QuerySet[Order]:
    """Lease extensions beyond the maximum (change orders) in the projects the user sees."""
    return order_list(user=user).filter(action=ChangeAction.EXTEND_LEASE)


def leases_for_orders(*, order_ids: list[int]) -> dict[int, Lease]:
    """Leases by order id, in one query (for lists of resources the caller already filtered)."""
    return {lease.order_id: lease for lease in Lease.objects.filter(order_id__in=order_ids)}


# --- idle reclaim -------------------------------------------------------------------------
def idle_policy_for(*, project: Project) -> IdlePolicy | None:
    """The enabled policy governing the project: its own, else its organization's."""
    policies = IdlePolicy.objects.filter(
        Q(project=project) | Q(organization_id=project.organization_id), enabled=True
    )
    return min(policies, key=lambda p: p.project_id is None, default=None)


def _administered_organizations(user: AbstractUser) -> QuerySet:
    return OrganizationMembership.objects.filter(user=user, role=OrganizationRole.ADMIN).values(
        "organization"
    )


def policy_can_change(*, user: AbstractUser, policy: IdlePolicy) -> bool:
    """Organization admins (and staff) manage the idle policies of their organization."""
    if user.is_staff:
        return True
    organization_id = policy.organization_id or (policy.project and policy.project.organization_id)
    return _administered_organizations(user).filter(organization_id=organization_id).exists()


def idle_policy_list(*, user: AbstractUser) -> QuerySet[IdlePolicy]:
    """Policies of the organizations the user administers (staff: all)."""
    policies = IdlePolicy.objects.select_related("organization", "project__organization")
    if not user.is_authenticated:
        return policies.none()
    if user.is_staff:
        return policies
    organizations = _administered_organizations(user)
    return policies.filter(
        Q(organization__in=organizations) | Q(project__organization__in=organizations)
    )


def reclaim_case_list(*, user: AbstractUser) -> QuerySet[ReclaimCase]:
    return ReclaimCase.objects.filter(
        resource__project__in=project_ids(user=user, perm="view_project")
    ).select_related("resource__project", "policy")


def resource_keep_list(*, user: AbstractUser) -> QuerySet[ResourceKeep]:
    return ResourceKeep.objects.filter(
        resource__project__in=project_ids(user=user, perm="view_project")
    ).select_related("resource", "user")


def resource_lifecycle(*, user: AbstractUser, resource: Resource) -> dict:
    """What the resource page shows: the order's lease, the keep mark, the open reclaim case
    and the policy, with what the user may do. `resource` is one the user may see."""
    lease = Lease.objects.filter(order_id=resource.order_id).select_related("order__item").first()
    may_act = user_has_project_perm(user=user, project=resource.project, perm="order_in_project")
    return {
        "resource": resource,
        "lease": lease,
        "limit": lease and lease_limit(lease=lease),
        "pending_extension": lease
        and lease_extension_orders(user=user)
        .filter(changes_order=lease.order_id, status__in=OPEN_STATUSES)
        .first(),
        "keep": ResourceKeep.objects.filter(resource=resource).first(),
        "case": ReclaimCase.objects.filter(resource=resource, closed_at__isnull=True).first(),
        # Reclaim covers top-level servers only (autoscaling owns its groups' servers).
        "policy": idle_policy_for(project=resource.project)
        if resource.kind == "server" and not resource.parent_id
        else None,
        "may_act": may_act,
    }


# --- savings ------------------------------------------------------------------------------
SAVINGS_GROUPS = {"project": "project", "cost_center": "cost_center", "source": "source"}


@dataclass
class SavingsRow:
    key: str
    label: str
    amount: Decimal
    # What is being saved per hour right now (savings still running).
    hourly_now: Decimal


@dataclass
class SavingsReport:
    period: Period
    group_by: str
    currency: str
    total: Decimal
    rows: list[SavingsRow] = field(default_factory=list)


def savings_visible(*, user: AbstractUser) -> QuerySet[Saving]:
    """As billing's usage: cost readers and managers of the project, and the order's requester."""
    if not user.is_authenticated:
        return Saving.objects.none()
    return Saving.objects.filter(
        Q(project__in=project_ids(user=user, perm="view_project_costs"))
        | Q(project__in=project_ids(user=user, perm="approve_for_project"))
        | Q(resource__order__requester=user)
    )


def savings(
    *, user: AbstractUser, period: Period, group_by: str = "project", now: datetime | None = None
) -> SavingsReport:
    """What stopped accruing in the period, grouped: each saving's hourly amount times the
    hours of the period it ran for (never beyond `now`). Summed in the database per group and
    hourly amount, so the Python side multiplies a handful of rows."""
    if group_by not in SAVINGS_GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(SAVINGS_GROUPS)}")
    now = now or timezone.now()
    end = min(period.end, now)
    column = SAVINGS_GROUPS[group_by]
    cap = Value(end, output_field=DateTimeField())
    start = Value(period.start, output_field=DateTimeField())
    rows = (
        savings_visible(user=user)
        .filter(started_at__lt=end)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=period.start))
        .values(column, "hourly")
        .annotate(
            duration=Sum(Least(Coalesce("ended_at", cap), cap) - Greatest("started_at", start)),
            running=Count("pk", filter=Q(ended_at__isnull=True)),
        )
        .order_by()
    )
    amounts: dict[str, Decimal] = {}
    hourly_now: dict[str, Decimal] = {}
    for row in rows:
        key = str(row[column])
        hours = Decimal(row["duration"].total_seconds()) / 3600
        amounts[key] = amounts.get(key, Decimal(0)) + row["hourly"] * hours
        hourly_now[key] = hourly_now.get(key, Decimal(0)) + row["hourly"] * row["running"]
    labels = (
        dict(Project.objects.filter(pk__in=amounts).values_list("pk", "name"))
        if group_by == "project"
        else {}
    )
    report_rows = sorted(
        (
            SavingsRow(
                key=key,
                label=str(labels.get(int(key), key) if group_by == "project" else key),
                amount=amount.quantize(CENT, ROUND_HALF_UP),
                hourly_now=hourly_now[key],
            )
            for key, amount in amounts.items()
        ),
        key=lambda row: (-row.amount, row.label),
    )
    return SavingsReport(
        period=period,
        group_by=group_by,
        currency=user_currency(user=user),
        total=sum(amounts.values(), Decimal(0)).quantize(CENT, ROUND_HALF_UP),
        rows=report_rows,
    )


# --- dashboard ----------------------------------------------------------------------------
def dashboard_summary(*, user: AbstractUser, now: datetime | None = None) -> dict:
    """The dashboard's lifecycle panel: leases expiring within 7 days, retired orders in their
    grace period, open reclaim cases by grade, and what policies saved this month."""
    now = now or timezone.now()
    leases = lease_list(user=user)
    expiring = leases.filter(state=LeaseState.ACTIVE, expires_at__lte=now + SOON).order_by(
        "expires_at"
    )
    retired = leases.filter(state=LeaseState.RETIRED).order_by("delete_at")
    by_grade = dict(
        reclaim_case_list(user=user)
        .filter(closed_at__isnull=True)
        .values_list("grade")
        .annotate(n=Count("pk"))
        .order_by()
    )
    month = savings(user=user, period=month_period(now.date()), now=now)
    return {
        "expiring": list(expiring[:10]),
        "expiring_count": expiring.count(),
        "retired": list(retired[:10]),
        "retired_count": retired.count(),
        "cases_by_grade": [
            (grade, by_grade.get(grade, 0)) for grade in Grade.values if grade != Grade.DELETED
        ],
        "open_cases": sum(by_grade.values()),
        "savings_month": month.total,
        "savings_hourly_now": sum((row.hourly_now for row in month.rows), Decimal(0)),
        "currency": month.currency,
    }
