"""Reads for lifecycle; visibility follows the order's (or resource's) project, like provisioning:
leases and reclaim cases for whoever sees the project, savings for whoever sees its costs."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db.models import Count, DateTimeField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone

import provisioning.selectors as provisioning_selectors
from billing.pricing import PriceBook, billed_kind
from billing.selectors import Period, month_period, user_currency
from catalog.models import ChangeAction, Order
from catalog.selectors import OPEN_STATUSES, order_list
from core.models import OrganizationMembership, OrganizationRole, Project
from core.selectors import project_ids, user_has_project_perm
from lifecycle.models import (
    Grade,
    IdlePolicy,
    Lease,
    LeaseState,
    ReclaimCase,
    ResourceKeep,
    Saving,
)
from provisioning.models import Resource, ResourceState, UnknownObject
from provisioning.providers.base import KINDS, MetricPoint
from provisioning.selectors import cloud_accounts_administered, resource_list

CENT = Decimal("0.01")
# Days before a lease's expiry its requester is warned.
WARNING_DAYS = (7, 1)
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


# --- brownfield adoption ------------------------------------------------------------------
# Tags that name a server's project (by slug or name) or its cost center.
PROJECT_TAGS = ("project", "Project", "canopy-project")
COST_CENTER_TAGS = ("cost-center", "cost_center", "CostCenter", "costcenter")


@dataclass
class Adoptable:
    server: UnknownObject
    suggested: Project | None


def adoptable_servers(*, user: AbstractUser) -> list[Adoptable]:
    """Servers launched outside Canopy in the accounts of organizations the user administers,
    each with the project its tags suggest (`project`, `cost-center`), if any."""
    servers = list(
        UnknownObject.objects.filter(
            kind="server", account__in=cloud_accounts_administered(user=user)
        )
        .exclude(name__startswith="canopy-")
        .select_related("account")
        .order_by("account__name", "name")
    )
    projects = list(
        Project.objects.filter(organization__in={s.account.organization_id for s in servers})
    )
    return [Adoptable(server, _suggested(server, projects)) for server in servers]


def adoption_projects(*, user: AbstractUser) -> QuerySet[Project]:
    """Projects the user may adopt servers into: those of the organizations they administer."""
    accounts = cloud_accounts_administered(user=user)
    return Project.objects.filter(organization__in=accounts.values("organization_id")).order_by(
        "name"
    )


def _suggested(server: UnknownObject, projects: list[Project]) -> Project | None:
    mine = [p for p in projects if p.organization_id == server.account.organization_id]
    wanted = {str(server.tags[t]).lower() for t in PROJECT_TAGS if t in server.tags}
    centers = {str(server.tags[t]).lower() for t in COST_CENTER_TAGS if t in server.tags}
    return next(
        (p for p in mine if wanted & {p.slug.lower(), p.name.lower()}),
        next((p for p in mine if p.cost_center.lower() in centers), None),
    )


# --- idle evidence (shared by reclaim and its preview) -------------------------------------
# grade → (next grade, the policy's wait before it)
LADDER: dict[str, tuple[str, str]] = {
    Grade.IDLE: (Grade.NOTIFIED, "notify_after"),
    Grade.NOTIFIED: (Grade.STOPPED, "stop_after"),
    Grade.STOPPED: (Grade.RETIRED, "retire_after"),
    Grade.RETIRED: (Grade.DELETED, "delete_after"),
}


def metric_step(window: timedelta) -> timedelta:
    """About six points per window, between 30 seconds (minute-long demo windows) and 5 minutes."""
    return max(min(window / 6, timedelta(minutes=5)), timedelta(seconds=30))


def idle_evidence(points: list[MetricPoint], policy: IdlePolicy) -> dict | None:
    """The averages of `points` (the policy's window), or None when the source has none."""
    average = provisioning_selectors.metric_average(points)
    if average is None:
        return None
    cpu, network = average
    return {
        "cpu_percent": round(cpu, 2),
        "network_kbps": round(network, 2),
        "points": len(points),
        "idle": cpu < policy.cpu_below_percent and network < policy.network_below_kbps,
    }


def idle_evidence_batch(
    judged: list[tuple[Resource, IdlePolicy]], now: datetime
) -> dict[int, dict | None]:
    """Each judged server's evidence by resource id: one metrics call per account and policy
    window (`servers_metrics` groups by account), not one per server."""
    by_window: dict[timedelta, list[Resource]] = defaultdict(list)
    for resource, policy in judged:
        by_window[policy.window].append(resource)
    series: dict[int, list[MetricPoint]] = {}
    for window, servers in by_window.items():
        series |= provisioning_selectors.servers_metrics(
            servers=servers, since=now - window, until=now, step=metric_step(window)
        )
    return {
        server.pk: idle_evidence(series.get(server.pk, []), policy) for server, policy in judged
    }


def reclaim_candidates(*, open_cases: set[int]) -> list[tuple[Resource, int | None]]:
    """(server, applicable policy id) for the running top-level servers of projects under an
    enabled policy, and every server with an open case. Autoscaling owns its groups' servers;
    servers adopted to be observed only are left alone."""
    covered = Resource.objects.filter(
        kind="server", parent__isnull=True, state=ResourceState.ACTIVE, observe_only=False
    )
    policies = IdlePolicy.objects.filter(enabled=True)
    projects = {p.project_id: p.pk for p in policies if p.project_id}
    organizations = {p.organization_id: p.pk for p in policies if p.organization_id}
    servers = (
        covered.filter(project__organization_id__in=organizations)
        | covered.filter(project_id__in=projects)
        | Resource.objects.filter(pk__in=open_cases)
    ).select_related("cloud_account", "project")
    return [
        (server, projects.get(server.project_id, organizations.get(server.project.organization_id)))
        for server in servers
    ]


# --- reclaim preview ----------------------------------------------------------------------
MAX_PREVIEW_DAYS = 365


def hourly_saving(
    *, book: PriceBook, resource: Resource, action: str, on: date, stopped: bool = False
) -> Decimal:
    """What the resource stops costing per hour when stopped (the running price less what a
    stopped server still pays, its disk) or deleted (whatever it costs in its state, or
    `stopped` when a stop will have come first)."""
    props = resource.properties
    is_volume = resource.kind == "volume"
    price = book.hourly(
        cloud_account_id=resource.cloud_account_id,
        kind=billed_kind(kind=resource.kind, parent_kind=resource.parent and resource.parent.kind),
        size=str(props.get("size", "")) if resource.kind == "server" else "",
        quantity=Decimal(str(props.get("size_gb", 0))) if is_volume else Decimal(1),
        properties=props,
        on=on,
    )
    if action == Saving.Action.STOP:
        return price.running - price.idle
    running = resource.state == ResourceState.ACTIVE and not (stopped and resource.kind == "server")
    return price.running if running else price.idle


# Grade reached → what Canopy does then, in the preview's words.
GRADE_ACTIONS = {
    Grade.NOTIFIED: "notify",
    Grade.STOPPED: "stop",
    Grade.RETIRED: "retire",
    Grade.DELETED: "delete",
}


@dataclass
class PlannedAction:
    """Something the idle or lease policies will do at `at` unless someone acts first."""

    at: datetime
    source: str  # "idle" or "lease"
    action: str  # notify, stop, retire, delete
    project: Project
    order_id: int
    resources: list[Resource]
    why: str
    hourly_saving: Decimal = Decimal(0)
    saving_in_horizon: Decimal = Decimal(0)


def _idle_plan(user: AbstractUser, now: datetime, horizon: datetime) -> list[PlannedAction]:
    """Each covered server's case as the reclaim would grade it if it stays idle: open cases
    from their grade, idle servers without one from now."""
    visible = set(resource_list(user=user).values_list("pk", flat=True))
    open_cases = {
        case.resource_id: case
        for case in ReclaimCase.objects.filter(closed_at__isnull=True).select_related("policy")
    }
    policies = {p.pk: p for p in IdlePolicy.objects.filter(enabled=True)}
    keeps = set(ResourceKeep.objects.values_list("resource_id", flat=True))
    fresh = []
    for server, policy_id in reclaim_candidates(open_cases=set(open_cases)):
        policy = policies.get(policy_id)
        if server.pk not in visible or server.pk in open_cases or server.pk in keeps:
            continue
        if policy and server.state_changed_at <= now - policy.window:
            fresh.append((server, policy))
    evidence = idle_evidence_batch(fresh, now)
    ladders = [
        (server, policy, Grade.IDLE, now)
        for server, policy in fresh
        if (found := evidence[server.pk]) and found["idle"]
    ]
    servers = {
        r.pk: r
        for r in Resource.objects.filter(
            pk__in=[c for c in open_cases if c in visible]
        ).select_related("project", "parent")
    }
    ladders += [
        (servers[pk], case.policy, case.grade, case.graded_at)
        for pk, case in open_cases.items()
        if pk in servers and pk not in keeps
    ]
    planned = []
    for server, policy, grade, since in ladders:
        while grade in LADDER:
            grade, wait_field = LADDER[grade]
            wait = getattr(policy, wait_field)
            # An overdue grade is applied at the next run, and the next wait counts from it.
            if wait is None or (since := max(since + wait, now)) > horizon:
                break
            planned.append(
                PlannedAction(
                    at=since,
                    source="idle",
                    action=GRADE_ACTIONS[grade],
                    project=server.project,
                    order_id=server.order_id,
                    resources=[server],
                    why=f"idle under policy {policy.name}",
                )
            )
    return planned


def _lease_plan(user: AbstractUser, now: datetime, horizon: datetime) -> list[PlannedAction]:
    """Warnings, retirement and deletion of the leases the user sees, as `lease_process` will
    do them unless extended or unretired."""
    planned = []
    leases = (
        lease_list(user=user)
        .filter(
            Q(state=LeaseState.ACTIVE, expires_at__lte=horizon + timedelta(days=max(WARNING_DAYS)))
            | Q(state=LeaseState.RETIRED, delete_at__lte=horizon)
        )
        .select_related("order__project")
    )
    live = defaultdict(list)
    for resource in (
        Resource.objects.filter(order__in=[x.order_id for x in leases])
        .exclude(state__in=[ResourceState.DELETED, ResourceState.MISSING])
        .select_related("parent")
    ):
        live[resource.order_id].append(resource)
    for lease in leases:
        order, resources = lease.order, live[lease.order_id]
        plan = []
        if lease.state == LeaseState.ACTIVE:
            unsent = sorted(
                lease.expires_at - timedelta(days=d)
                for d in WARNING_DAYS
                if d not in lease.warnings_sent
            )
            # As `lease_process`: the warnings already due go out at once, as one.
            if any(at <= now for at in unsent):
                plan.append(("notify", now, []))
            plan += [("notify", at, []) for at in unsent if at > now]
            servers = [
                r for r in resources if r.kind == "server" and r.state == ResourceState.ACTIVE
            ]
            plan += [("retire", max(lease.expires_at, now), servers)]
            grace = timedelta(days=settings.CANOPY_LEASE_GRACE_DAYS)
            plan += [("delete", max(lease.expires_at, now) + grace, resources)]
        else:
            plan += [("delete", max(lease.delete_at, now), resources)]
        planned += [
            PlannedAction(
                at=at,
                source="lease",
                action=action,
                project=order.project,
                order_id=order.pk,
                resources=affected,
                why=f"lease of order #{order.pk} expires {lease.expires_at:%Y-%m-%d %H:%M}",
            )
            for action, at, affected in plan
            if at <= horizon
        ]
    return planned


def reclaim_preview(
    *, user: AbstractUser, days: int, now: datetime | None = None
) -> list[PlannedAction]:
    """What the idle and lease policies will do in the next `days` to what the user sees,
    oldest first, with what each saves per hour and until the horizon (priced by billing's
    engine), assuming nobody acts and idle servers stay idle."""
    now = now or timezone.now()
    horizon = now + timedelta(days=days)
    planned = _idle_plan(user, now, horizon) + _lease_plan(user, now, horizon)
    book = PriceBook({r.cloud_account_id for p in planned for r in p.resources})
    for item in planned:
        if item.action in ("stop", "retire", "delete"):
            action = Saving.Action.DELETE if item.action == "delete" else Saving.Action.STOP
            item.hourly_saving = sum(
                (
                    # Deletions come after a stop (the ladder's, the lease's retirement).
                    hourly_saving(
                        book=book, resource=r, action=action, on=item.at.date(), stopped=True
                    )
                    for r in item.resources
                    if r.kind in KINDS
                ),
                Decimal(0),
            )
            hours = Decimal((horizon - item.at).total_seconds()) / 3600
            item.saving_in_horizon = (item.hourly_saving * hours).quantize(CENT, ROUND_HALF_UP)
    return sorted(planned, key=lambda p: (p.at, p.order_id, p.action))


@dataclass
class ProjectPreview:
    project: Project
    actions: list[PlannedAction]
    saving_in_horizon: Decimal


def reclaim_preview_by_project(
    *, user: AbstractUser, days: int, now: datetime | None = None
) -> list[ProjectPreview]:
    """`reclaim_preview` per project (by name), each with what it saves until the horizon."""
    by_project: dict[int, list[PlannedAction]] = defaultdict(list)
    for planned in reclaim_preview(user=user, days=days, now=now):
        by_project[planned.project.pk].append(planned)
    previews = [
        ProjectPreview(
            project=actions[0].project,
            actions=actions,
            saving_in_horizon=sum((a.saving_in_horizon for a in actions), Decimal(0)),
        )
        for actions in by_project.values()
    ]
    return sorted(previews, key=lambda p: p.project.name)
