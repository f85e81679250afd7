"""Quota: what orders and resources demand, the limits over a project, what the ledger
has reserved and committed, and the quotas a user sees."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractUser
from django.db.models import Q, QuerySet, Sum

import provisioning.selectors as provisioning_selectors
from approvals.models import LedgerStatus, OrderKind, Quota, QuotaEntry
from billing.pricing import monthly_quote
from core.models import Project
from core.selectors import project_list
from provisioning.models import CloudAccount, Resource

if TYPE_CHECKING:  # orders live in catalog, above this app: only handed in
    from catalog.models import Order


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
    return quota_effect_messages(project=project, demand=demand)


def quota_effect_messages(*, project: Project, demand: Demand) -> list[str]:
    return [
        f"{QUOTA_EXCEEDED} {line.owner}'s {line.label} quota ({line.after} of {line.limit})"
        if line.exceeded
        else f"this order puts {line.owner} at "
        f"{round(Decimal(line.after) * 100 / Decimal(line.limit)) if line.limit else 100} % "
        f"of its {line.label} quota"
        for line in quota_lines(quotas=quotas_for_project(project=project), demand=demand)
    ]


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


def change_quota_effect(*, order: Order) -> list[str]:
    """`quota_effect` of an unsaved change order (nothing for a change that takes nothing)."""
    demand, _ = change_demand(order=order)
    return quota_effect_messages(project=order.project, demand=demand.gains())


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
