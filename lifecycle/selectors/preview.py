"""The reclaim preview: what the idle and lease policies will do over a horizon unless
someone acts first, with what it saves."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db.models import Q
from django.utils import timezone

from billing.pricing import PriceBook, billed_kind
from core.models import Project
from lifecycle.models import Grade, IdlePolicy, LeaseState, ReclaimCase, ResourceKeep, Saving
from lifecycle.selectors.leases import WARNING_DAYS, lease_list
from lifecycle.selectors.reclaim import LADDER, idle_evidence_batch, reclaim_candidates
from lifecycle.selectors.savings import CENT
from provisioning.models import Resource, ResourceState
from provisioning.providers.base import KINDS
from provisioning.selectors import resource_list

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
    idle = [
        (server, policy)
        for server, policy in fresh
        if (found := evidence[server.pk]) and found["idle"]
    ]
    servers = {
        r.pk: r
        for r in Resource.objects.filter(
            pk__in=[c for c in open_cases if c in visible] + [server.pk for server, _ in idle]
        ).select_related("project", "parent")
    }
    ladders = [(servers[server.pk], policy, Grade.IDLE, now) for server, policy in idle]
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
