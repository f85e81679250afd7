"""Whose costs a user reads, and where a report reads them from.

Who sees which costs is decided here, and only here: finance (view_project_costs) sees its
organization, managers their projects, members their own usage. The readable projects are
resolved to a list of ids first, so that the condition the database gets is `project_id IN
(…) OR user_id = …`: both sides use an index ((project, hour), (user, hour)), where an OR of
subqueries made it read the whole period.

Reports read the rollups metering keeps (`UsageDay`, `UsageResourceMonth`), not the hours:
`summary_filtered` picks the smallest one that answers the question."""

from django.contrib.auth.models import AbstractUser
from django.db.models import Count, Q, QuerySet, Sum

from billing.models import BillingProfile, RunningRollup, Usage, UsageDay, UsageResourceMonth
from billing.selectors.periods import Period
from core.models import Project
from core.selectors import project_ids, shared_read
from provisioning.models import Resource

DEFAULT_CURRENCY = "USD"

# group_by → the usage column it groups on; labels of id columns are read afterwards. The
# rollups have the same columns.
GROUPS: dict[str, str] = {
    "organization": "organization_id",
    "project": "project_id",
    "cost_center": "cost_center",
    "user": "user_id",
    "catalog_item": "catalog_item_id",
    "provider": "provider",
    "kind": "kind",
    "resource": "resource_id",
}
# Columns a usage row may leave empty, which the rollups store as 0 (see `UsageRollup`).
OPTIONAL_IDS = {"user_id", "catalog_item_id", "cloud_account_id"}


def organization_currency(*, organization_id: int | None) -> str:
    profile = BillingProfile.objects.filter(organization_id=organization_id).first()
    return profile.currency if profile else DEFAULT_CURRENCY


def user_currency(*, user: AbstractUser) -> str:
    """The currency of the user's (first) organization: one organization, one currency."""

    def read() -> str:
        currency = (
            Project.objects.filter(pk__in=project_ids(user=user, perm="view_project"))
            .order_by("organization_id")
            .values_list("organization__billing_profile__currency", flat=True)
            .first()
        )
        return currency or DEFAULT_CURRENCY

    return shared_read(("user_currency", user.pk), read)


def readable_project_ids(*, user: AbstractUser, showback: bool = False) -> list[int]:
    """Projects whose every cost the user reads: finance's (the permission is granted on every
    project of the organization), the ones they manage, and with `showback` every project they
    are a member of. One query."""
    perms = ["view_project_costs", "approve_for_project"] + (["view_project"] if showback else [])

    def read() -> list[int]:
        parts = [project_ids(user=user, perm=perm) for perm in perms]
        if all(isinstance(part, list) for part in parts):  # lists read once (`reads_shared`)
            return sorted(set().union(*parts))
        readable = Q()
        for part in parts:
            readable |= Q(pk__in=part)
        return list(Project.objects.filter(readable).values_list("pk", flat=True).order_by())

    return shared_read(("readable_project_ids", user.pk, showback), read)


def _cost_readers(*, user: AbstractUser, requester: str, showback: bool) -> Q:
    """The readable projects' costs, and the user's own orders' (the `requester` column)."""
    return Q(project_id__in=readable_project_ids(user=user, showback=showback)) | Q(
        **{requester: user.pk}
    )


def usage_visible(*, user: AbstractUser, showback: bool = False) -> QuerySet[Usage]:
    """Usage rows the user may see (`_cost_readers`)."""
    if not user.is_authenticated:
        return Usage.objects.none()
    return Usage.objects.filter(_cost_readers(user=user, requester="user_id", showback=showback))


def resources_visible(*, user: AbstractUser, showback: bool = False) -> QuerySet[Resource]:
    """Resources whose costs the user may see: the same people as their usage rows."""
    if not user.is_authenticated:
        return Resource.objects.none()
    return Resource.objects.filter(
        _cost_readers(user=user, requester="order__requester_id", showback=showback)
    )


def running_visible(*, user: AbstractUser) -> QuerySet[RunningRollup]:
    """The rows of what runs now (`billing.running`) whose costs the user may see: the same
    people as their usage rows."""
    if not user.is_authenticated:
        return RunningRollup.objects.none()
    return RunningRollup.objects.filter(
        _cost_readers(user=user, requester="user_id", showback=False)
    )


def _narrowed(rows: QuerySet, filters: dict) -> QuerySet:
    for group, value in filters.items():
        if value not in (None, ""):
            rows = rows.filter(**{GROUPS[group]: value})
    return rows


def usage_filtered(
    *, user: AbstractUser, period: Period, filters: dict, showback: bool = False
) -> QuerySet[Usage]:
    """The user's visible usage rows (hours) in the period, narrowed by drill-down filters
    (group → key): for a resource's hours and the raw export."""
    rows = usage_visible(user=user, showback=showback).filter(
        hour__gte=period.start, hour__lt=period.end
    )
    return _narrowed(rows, filters)


def whole_months(period: Period) -> bool:
    return period.start.day == 1 and period.end.day == 1


def summary_filtered(
    *,
    user: AbstractUser,
    period: Period,
    filters: dict,
    showback: bool = False,
    by_resource: bool = False,
) -> QuerySet:
    """The user's visible usage of the period from the smallest source that answers it: the
    daily rollup, or (`by_resource`, or narrowed to a resource) the monthly rollup per resource,
    or for a resource over part of a month the hours themselves. The rows have the usage
    columns of `GROUPS` and are summed with `summary_sums`."""
    if not user.is_authenticated:
        return UsageDay.objects.none()
    by_resource = by_resource or filters.get("resource") not in (None, "")
    if not by_resource:
        rows = UsageDay.objects.filter(day__gte=period.start.date(), day__lt=period.end.date())
    elif whole_months(period):
        rows = UsageResourceMonth.objects.filter(
            month__gte=period.start.date(), month__lt=period.end.date()
        )
    else:
        return usage_filtered(user=user, period=period, filters=filters, showback=showback)
    rows = rows.filter(_cost_readers(user=user, requester="user_id", showback=showback))
    return _narrowed(rows, filters)


def summary_sums(rows: QuerySet) -> dict:
    """The sums a report shows, for a queryset of `summary_filtered`: cost, quantity (hours),
    running hours, and counts of unpriced rows and of rows with a one-time fee (`created`)."""
    if rows.model is Usage:
        counts = {
            "unpriced": Count("pk", filter=Q(unpriced=True)),
            "created": Count("pk", filter=Q(one_time__gt=0)),
        }
    else:
        counts = {"unpriced": Sum("unpriced"), "created": Sum("created")}
    return {
        "cost": Sum("cost"),
        "quantity": Sum("hours"),
        "running": Sum("running_hours"),
        **counts,
    }


def group_key(column: str, value: object) -> object:
    """A grouped value as the usage rows have it: a rollup's 0 for "none" is None."""
    return None if column in OPTIONAL_IDS and value == 0 else value


def usage_in(*, period: Period) -> QuerySet[UsageDay]:
    """Every day's usage of the period, unscoped: for budgets, whose readers chose them."""
    return UsageDay.objects.filter(day__gte=period.start.date(), day__lt=period.end.date())
