"""Idle reclaim: the policy over a project, policies, cases and keep marks a user sees,
a resource's lifecycle panel, and the evidence (metrics averages, read in batches) over the
servers the reclaim judges."""

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db.models import F, Q, QuerySet

import provisioning.selectors as provisioning_selectors
from catalog.selectors.orders import OPEN_STATUSES
from core.models import Organization, OrganizationMembership, OrganizationRole, Project
from core.selectors import project_ids, user_has_project_perm
from lifecycle.models import Grade, IdlePolicy, Lease, ReclaimCase, ResourceKeep
from lifecycle.selectors.leases import lease_extension_orders, lease_limit
from provisioning.models import Resource, ResourceState
from provisioning.providers.base import MetricMean
from provisioning.selectors import MetricServer


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


def idle_policy_scopes(*, user: AbstractUser) -> tuple[QuerySet[Organization], QuerySet[Project]]:
    """The organizations, and their projects, a new idle policy of the user may govern: those
    the user administers (staff: all)."""
    organizations = Organization.objects.order_by("name")
    if not user.is_staff:
        organizations = organizations.filter(pk__in=_administered_organizations(user))
    projects = Project.objects.filter(organization__in=organizations).select_related("organization")
    return organizations, projects.order_by("organization__name", "name")


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


def idle_evidence(mean: MetricMean | None, policy: IdlePolicy) -> dict | None:
    """The policy's verdict on the server's mean over its window (None: the source has none)."""
    if mean is None:
        return None
    return {
        "cpu_percent": round(mean.cpu_percent, 2),
        "network_kbps": round(mean.network_kbps, 2),
        "points": mean.points,
        "idle": mean.cpu_percent < policy.cpu_below_percent
        and mean.network_kbps < policy.network_below_kbps,
    }


def idle_evidence_batch(
    judged: list[tuple[MetricServer, IdlePolicy]], now: datetime
) -> dict[int, dict | None]:
    """Each judged server's evidence by resource id: one metrics call per account and policy
    window (`servers_metric_means` groups by account), not one per server, asking for the
    window's means rather than its points."""
    by_window: dict[timedelta, list[MetricServer]] = defaultdict(list)
    for resource, policy in judged:
        by_window[policy.window].append(resource)
    means: dict[int, MetricMean] = {}
    for window, servers in by_window.items():
        means |= provisioning_selectors.servers_metric_means(
            servers=servers, since=now - window, until=now, step=metric_step(window)
        )
    return {server.pk: idle_evidence(means.get(server.pk), policy) for server, policy in judged}


CANDIDATE_FIELDS = (
    "pk",
    "kind",
    "state",
    "state_changed_at",
    "external_id",
    "cloud_account_id",
    "project_id",
    "order_id",
    "organization_id",
)


def reclaim_candidates(*, open_cases: set[int]) -> list[tuple[Any, int | None]]:
    """(server, applicable policy id) for the running top-level servers of projects under an
    enabled policy, and every server with an open case. Autoscaling owns its groups' servers;
    servers adopted to be observed only are left alone. The servers are rows of
    CANDIDATE_FIELDS (tens of thousands each tick: no model built per row)."""
    covered = Resource.objects.filter(
        kind="server", parent__isnull=True, state=ResourceState.ACTIVE, observe_only=False
    )
    policies = IdlePolicy.objects.filter(enabled=True)
    projects = {p.project_id: p.pk for p in policies if p.project_id}
    organizations = {p.organization_id: p.pk for p in policies if p.organization_id}
    servers = (
        (
            covered.filter(project__organization_id__in=organizations)
            | covered.filter(project_id__in=projects)
            | Resource.objects.filter(pk__in=open_cases)
        )
        .annotate(organization_id=F("project__organization_id"))
        .values_list(*CANDIDATE_FIELDS, named=True)
    )
    return [
        (server, projects.get(server.project_id, organizations.get(server.organization_id)))
        for server in servers
    ]
