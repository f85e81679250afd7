"""The quota ledger (reserve on admission, commit on provision, release on
reject/fail/delete), day-2 capacity admission, and the project limits staff set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from approvals.models import LedgerStatus, OrderKind, Quota, QuotaEntry
from approvals.selectors.quota import Demand, change_demand, quota_problems, resource_demand
from core.models import OrganizationMembership, OrganizationRole, Project
from core.services import audit_record
from provisioning.models import Resource
from provisioning.selectors import changed_properties, cloud_account_for_order

if TYPE_CHECKING:  # the order's model is above: approvals is handed orders, never imports them
    from catalog.models import Order


def quotas_lock(*, project: Project) -> list[Quota]:
    """Lock the project's quota rows (its own and its organization's, always in id order so two
    admissions never deadlock); until commit nobody else can reserve against them."""
    return list(
        Quota.objects.select_for_update(of=("self",))
        .filter(Q(project=project) | Q(organization_id=project.organization_id))
        .select_related("project", "organization")
        .order_by("id")
    )


def order_demand(order: Order) -> tuple[Demand, set[str]]:
    """What the order's pinned plan takes, and its resource kinds (a change order: what the
    change takes)."""
    if order.is_change:
        return change_demand(order=order)
    account = cloud_account_for_order(order=order)
    specs = order.planned_resources
    demand = resource_demand(
        cloud_account=account, resources=specs, monthly_cost=order.estimated_monthly_cost
    )
    return demand, {spec["kind"] for spec in specs}


def ledger_entry(*, status: str, demand: Demand, **where) -> QuotaEntry:
    return QuotaEntry.objects.create(
        status=status,
        servers=demand.servers,
        vcpus=demand.vcpus,
        ram_gb=demand.ram_gb,
        storage_gb=demand.storage_gb,
        monthly_cost=demand.monthly_cost,
        **where,
    )


def resource_capacity(resource: Resource, properties: dict | None = None) -> Demand:
    """The resource's capacity, as it is or with `properties` in place of its own."""
    if properties is None:
        properties = resource.properties
    return resource_demand(
        cloud_account=resource.cloud_account,
        resources=[{"kind": resource.kind, "count": 1, "properties": properties}],
        monthly_cost=0,
    )


def quota_commit_change(order: Order) -> None:
    """The change is done: its reservation is released and the resource's line grows by the
    whole change (what a smaller size frees counts from now on). A destroy frees its share as
    its resources are deleted."""
    QuotaEntry.objects.filter(order=order, status=LedgerStatus.RESERVED).update(
        status=LedgerStatus.RELEASED, note="committed as the change", updated_at=timezone.now()
    )
    if order.kind != OrderKind.CHANGE or order.resource_id is None:
        return
    demand, _ = change_demand(order=order)
    if demand != Demand():
        ledger_entry(
            status=LedgerStatus.COMMITTED,
            demand=demand,
            project=order.project,
            order=order,
            resource=order.resource,
            note=order.summary[:120],
        )


@transaction.atomic
def quota_commit_order(*, order: Order) -> None:
    """The order is provisioned: its reservation becomes one committed line per resource."""
    released = QuotaEntry.objects.filter(order=order, status=LedgerStatus.RESERVED).update(
        status=LedgerStatus.RELEASED, note="committed as resources", updated_at=timezone.now()
    )
    if not released:
        return  # committed already (or never reserved)
    # Children (a group's servers, a database's parts) count in their parent's line.
    resources = list(
        Resource.objects.filter(order=order, parent__isnull=True)
        .exclude(state__in=["deleted", "missing"])
        .select_related("cloud_account")
    )
    _commit_lines(order, resources)


@transaction.atomic
def quota_commit_adopted(*, order: Order) -> None:
    """Servers adopted from a provider take quota from their adoption on: one committed line
    each, as a provisioned order's (no reservation came first; they exist already)."""
    resources = list(Resource.objects.filter(order=order).select_related("cloud_account"))
    _commit_lines(order, resources)


def _commit_lines(order: Order, resources: list[Resource]) -> None:
    """One committed ledger line per resource, the order's monthly cost shared between them."""
    share = order.estimated_monthly_cost / len(resources) if resources else 0
    for resource in resources:
        ledger_entry(
            status=LedgerStatus.COMMITTED,
            demand=resource_capacity(resource) + Demand(monthly_cost=round(share, 2)),
            project=order.project,
            order=order,
            resource=resource,
        )


def quota_release(*, order: Order | None = None, resource: Resource | None = None) -> int:
    """Stop counting an order's reservation (rejected, cancelled, failed) or a deleted
    resource's lines."""
    entries = QuotaEntry.objects.exclude(status=LedgerStatus.RELEASED)
    if order is not None:
        entries = entries.filter(order=order, status=LedgerStatus.RESERVED)
    else:
        entries = entries.filter(resource=resource)
    return entries.update(status=LedgerStatus.RELEASED, updated_at=timezone.now())


@transaction.atomic
def day2_admit(*, user: AbstractUser | None, resource: Resource, action: str, params: dict) -> None:
    """Admit a day-2 change that adds capacity (resize, extend, desired count) against the
    quota and record it in the ledger; raises ValidationError({"quota": …}) when it won't fit."""
    changed = changed_properties(resource=resource, action=action, params=params)
    if changed == resource.properties:
        return
    delta = resource_capacity(resource, changed) - resource_capacity(resource)
    problems = quota_problems(quotas=quotas_lock(project=resource.project), demand=delta)
    if problems:
        raise ValidationError({"quota": problems})
    ledger_entry(
        status=LedgerStatus.COMMITTED,
        demand=delta,
        project=resource.project,
        order_id=resource.order_id,
        resource=resource,
        note=f"{action} by {user or 'a policy'}",
    )


QUOTA_LIMITS = ["max_servers", "max_vcpus", "max_ram_gb", "max_storage_gb", "max_monthly_cost"]


def quota_can_change(*, user: AbstractUser, project: Project) -> bool:
    """Staff and the organization's admins set a project's quota."""
    return (
        user.is_staff
        or OrganizationMembership.objects.filter(
            user=user, organization_id=project.organization_id, role=OrganizationRole.ADMIN
        ).exists()
    )


@transaction.atomic
def quota_set(*, user: AbstractUser, project: Project, limits: dict) -> Quota:
    """Set some of a project's limits (None = unlimited). Lowering a limit below what is taken
    is allowed: it refuses new orders, it does not touch running resources."""
    if not quota_can_change(user=user, project=project):
        raise PermissionDenied("Only staff and organization admins set quotas.")
    unknown = set(limits) - set(QUOTA_LIMITS)
    if unknown:
        raise ValidationError({name: ["Not a quota limit."] for name in unknown})
    quota, _ = Quota.objects.select_for_update().get_or_create(project=project)
    for name, value in limits.items():
        setattr(quota, name, value)
    quota.full_clean()
    quota.save()
    audit_record(
        action="quota.changed",
        target=quota,
        actor=user,
        message=", ".join(f"{name}={value}" for name, value in limits.items()),
    )
    return quota
