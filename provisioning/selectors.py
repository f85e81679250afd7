"""Reads for provisioning; visibility follows the resource's project."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from django.contrib.auth.models import AbstractUser
from django.core.cache import cache
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce

from core.models import Organization, OrganizationMembership, OrganizationRole, Project
from core.selectors import project_ids, user_has_project_perm
from provisioning.models import (
    CloudAccount,
    Drift,
    Resource,
    ResourceState,
    Step,
    UnknownObject,
)
from provisioning.providers import REGISTRY, ProviderError, SizeInfo
from provisioning.providers.base import (
    ACTIONS,
    KINDS,
    LOCAL_OPTIONS,
    MetricMean,
    MetricPoint,
    points_mean,
)
from provisioning.providers.metrics import MetricsSource, metrics_source

logger = logging.getLogger(__name__)

if TYPE_CHECKING:  # orders live in catalog, above this app: only handed in
    from catalog.models import Order

# Catalog kinds the saga builds from provider-level kinds.
COMPOSITE_KINDS: dict[str, set[str]] = {
    "database": {"server"},
    "autoscaling_group": {"server"},
}
# Options older than this are served but refreshed in the background.
OPTIONS_FRESH_SECONDS = 300


def cloud_account_for_project(*, project: Project) -> CloudAccount | None:
    return cloud_accounts_for_project(project=project).first()


def cloud_accounts_for_project(*, project: Project) -> QuerySet[CloudAccount]:
    """The accounts serving the project; an organization's accounts serve projects not listed."""
    linked = CloudAccount.objects.filter(projects=project).order_by("id")
    if linked.exists():
        return linked
    return CloudAccount.objects.filter(organization_id=project.organization_id).order_by("id")


def cloud_account_for_order(*, order: Order) -> CloudAccount | None:
    """The order's chosen account, else the project's first one."""
    return order.cloud_account or cloud_account_for_project(project=order.project)


# The pinned properties a deployment needs the account to still offer, by the option list
# that offers them.
PLANNED_OPTIONS = {"size": "sizes", "image": "images", "location": "locations"}
SIZED_KINDS = {"server", "database", "autoscaling_group"}


def plan_unavailable(*, account: CloudAccount | None, resources: list[dict]) -> str:
    """Why the account cannot deploy the pinned resources ("" when it can): no account, no
    plan, or a size, image or location it no longer offers. An option list not known yet (a
    cloud whose options are still being fetched) is not held against the plan."""
    if account is None:
        return "No cloud account serves this project."
    if not resources:
        return "The order has no pinned plan to deploy."
    options = cloud_account_options(account=account)
    problems = []
    for spec in resources:
        if spec["kind"] not in SIZED_KINDS:
            continue
        for name, source in PLANNED_OPTIONS.items():
            value = spec["properties"].get(name)
            offered = {option.id for option in options[source]}
            if value not in (None, "") and offered and value not in offered:
                problems.append(
                    f"The cloud account {account.name} no longer offers the {name} {value} "
                    f"planned for {spec['name']}."
                )
    return " ".join(problems)


def _administered_organizations(user: AbstractUser) -> QuerySet:
    return OrganizationMembership.objects.filter(user=user, role=OrganizationRole.ADMIN).values(
        "organization"
    )


def cloud_accounts_administered(*, user: AbstractUser) -> QuerySet[CloudAccount]:
    """Accounts of the organizations the user administers (staff see all)."""
    accounts = CloudAccount.objects.order_by("name")
    if user.is_staff:
        return accounts
    return accounts.filter(organization__in=_administered_organizations(user))


def organization_administered(*, user: AbstractUser, organization: Organization) -> bool:
    """Staff and the organization's admins manage its cloud accounts."""
    return (
        user.is_staff
        or _administered_organizations(user).filter(organization=organization).exists()
    )


# --- capabilities -------------------------------------------------------------------------
def provider_kinds(kinds: set[str]) -> set[str]:
    """Catalog kinds → the provider-level kinds they are built from."""
    needed: set[str] = set()
    for kind in kinds:
        needed |= COMPOSITE_KINDS.get(kind, {kind})
    return needed


def account_supports(*, account: CloudAccount, kinds: set[str]) -> bool:
    """The account's provider can create and delete every kind (composites included)."""
    adapter_class = REGISTRY.get(account.provider)
    if adapter_class is None:
        return False
    return all(
        {"create", "delete"} <= adapter_class.capabilities.get(kind, frozenset())
        for kind in provider_kinds(kinds)
    )


def capability_matrix() -> list[dict[str, Any]]:
    """Provider by kind by action, for the admins' capability page."""
    rows = []
    for provider, label in CloudAccount.Provider.choices:
        adapter_class = REGISTRY.get(provider)
        capabilities = adapter_class.capabilities if adapter_class else {}
        rows.append(
            {
                "provider": provider,
                "label": label,
                "installed": adapter_class is not None,
                "kinds": [
                    {
                        "kind": kind,
                        "actions": [
                            action in capabilities.get(kind, frozenset()) for action in ACTIONS
                        ],
                    }
                    for kind in KINDS
                ],
            }
        )
    return rows


# --- cached provider options --------------------------------------------------------------
def options_cache_key(account_id: int) -> str:
    return f"provisioning:options:{account_id}"


def options_stale(entry: dict | None) -> bool:
    """Whether a cached options entry is missing or due to be fetched again."""
    return entry is None or time.time() - entry["fetched_at"] > OPTIONS_FRESH_SECONDS


def cloud_account_options(
    *, account: CloudAccount, entry: dict | None = None, entry_read: bool = False
) -> dict[str, list]:
    """Locations, sizes and images of the account, from the cache; never calls a slow cloud
    and writes nothing.

    A stale entry of an adapter that lists its options in place (the LOCAL_OPTIONS feature: the
    sandbox), or none, is read directly instead. Other providers' stale entries are served, and
    with no entry yet they answer empty lists until a worker has fetched them (beat does every
    few minutes; `provisioning.services.accounts.account_options_request` asks at once).
    `entry`: the account's cache entry, when the caller has just read it (`entry_read`: it did,
    and None means the cache had none: not read twice).
    """
    if entry is None and not entry_read:
        entry = cache.get(options_cache_key(account.pk))
    adapter_class = REGISTRY.get(account.provider)
    if options_stale(entry) and adapter_class and LOCAL_OPTIONS in adapter_class.features:
        adapter = adapter_class(account)
        entry = {
            "locations": adapter.list_locations(),
            "sizes": adapter.list_sizes(),
            "images": adapter.list_images(),
        }
    if entry is None:
        return {"locations": [], "sizes": [], "images": []}
    return {name: entry[name] for name in ("locations", "sizes", "images")}


def size_info(*, account: CloudAccount, size: str) -> SizeInfo | None:
    return next((s for s in cloud_account_options(account=account)["sizes"] if s.id == size), None)


# --- resources and steps ------------------------------------------------------------------
def changed_properties(*, resource: Resource, action: str, params: dict) -> dict[str, Any]:
    """The resource's properties as a resize, extend, new desired count or new bounds leave
    them (the same properties for any other action)."""
    names = {"resize": ["size"], "extend": ["size_gb"], "set_desired": ["desired"]}
    names["set_bounds"] = ["min", "max"]
    return {
        **resource.properties,
        **{name: params[name] for name in names.get(action, []) if name in params},
    }


def resource_list(*, user: AbstractUser) -> QuerySet[Resource]:
    return Resource.objects.filter(
        project__in=project_ids(user=user, perm="view_project")
    ).select_related("cloud_account", "project", "order__item", "parent")


def order_condition(*, resources: Sequence[Resource]) -> str:
    """What an order's resources say beyond its status, for people: "deleted" when none of its
    resources is left, "partly deleted" when some are gone, "degraded" when one is in error or
    missing at the provider, else "" (the order's status tells it all)."""
    top = [resource for resource in resources if resource.parent_id is None]
    deleted = sum(resource.state == ResourceState.DELETED for resource in top)
    if top and deleted == len(top):
        return "deleted"
    if deleted:
        return "partly deleted"
    if any(r.state in (ResourceState.ERROR, ResourceState.MISSING) for r in resources):
        return "degraded"
    return ""


def resource_names_in_use(*, project: Project, names: Sequence[tuple[str, str]]) -> list[str]:
    """Which of these (kind, name) pairs a resource of the project already has (one not
    deleted): a name is unique per project and kind, so people can tell their servers apart."""
    wanted = Q()
    for kind, name in names:
        wanted |= Q(kind=kind, name=name)
    if not wanted:
        return []
    return list(
        Resource.objects.filter(wanted, project=project, parent__isnull=True)
        .exclude(state=ResourceState.DELETED)
        .order_by("name")
        .values_list("name", flat=True)
        .distinct()
    )


def resource_secret(*, user: AbstractUser, resource: Resource) -> dict[str, Any]:
    """A generated secret (a database's password): only the order's requester sees it."""
    if resource.order.requester_id != user.pk or not user_has_project_perm(
        user=user, project=resource.project, perm="view_project"
    ):
        return {}
    return resource.secret


def deployment_steps(*, order: Order) -> list[dict[str, Any]]:
    """The order's saga steps, oldest first, for the order page and API (a change order's:
    those of the deployment that carries it out)."""
    mine = (
        Q(deployment__change_order=order)
        if order.is_change
        else Q(resource__order=order) | Q(deployment__order=order)
    )
    steps = (
        Step.objects.filter(mine)
        .distinct()
        .select_related("resource")
        .prefetch_related("depends_on")  # only the dependencies' ids are shown
        .order_by("id")
    )
    return [
        {
            "id": step.pk,
            "deployment": step.deployment_id,
            "resource": step.resource_id,
            "key": step.resource.key,
            "kind": step.resource.kind,
            "name": step.resource.name,
            "action": step.action,
            "state": step.state,
            "attempts": step.attempts,
            "last_error": step.last_error,
            "depends_on": [dependency.pk for dependency in step.depends_on.all()],
            "started_at": step.started_at,
            "finished_at": step.finished_at,
        }
        for step in steps
    ]


# --- drift --------------------------------------------------------------------------------
DRIFT_SHOWN = 10


def resource_drifts(*, resource: Resource) -> list[Drift]:
    """The resource's latest drifts, open first (callers apply visibility)."""
    return list(
        resource.drifts.order_by(F("resolved_at").desc(nulls_first=True), "-id")[:DRIFT_SHOWN]
    )


def drift_summary(*, user: AbstractUser) -> dict[str, Any]:
    """The dashboard's drift panel: open drifts of the user's resources and the latest few."""
    drifts = Drift.objects.filter(resource__in=resource_list(user=user).values("pk"))
    return {
        "open": drifts.filter(resolved_at__isnull=True).count(),
        "recent": list(drifts.select_related("resource").order_by("-detected_at", "-id")[:5]),
    }


def unknown_objects() -> QuerySet[UnknownObject]:
    return UnknownObject.objects.select_related("account").order_by("account__name", "kind")


# --- metrics ------------------------------------------------------------------------------
# States in which an object runs (or, stopped, reports 0 %); others have no series.
METRIC_STATES = (ResourceState.ACTIVE, ResourceState.UPDATING, ResourceState.STOPPED)
# Kinds with a series: a server's from its provider, a group's averaged over its servers.
METRIC_KINDS = ("server", "autoscaling_group")


class MetricAverage(NamedTuple):
    cpu_percent: float
    network_kbps: float


def metric_average(points: Sequence[MetricPoint]) -> MetricAverage | None:
    """The mean CPU and network of `points`, unrounded (callers round to what they show);
    None when there are none."""
    mean = points_mean(points)
    return mean and MetricAverage(mean.cpu_percent, mean.network_kbps)


class MetricServer(Protocol):
    """What a metrics read needs of a server: a Resource, or a row of these columns."""

    pk: int
    kind: str
    state: str
    external_id: str
    cloud_account_id: int


def _per_account(
    servers: Sequence[MetricServer], read: Callable[[MetricsSource, list[str]], dict[str, Any]]
) -> dict[int, Any]:
    """`read(source, external ids)` once per account over the servers that have metrics, its
    answers by resource id; a source that fails counts as having nothing (logged)."""
    by_account: dict[int, list[MetricServer]] = defaultdict(list)
    for server in servers:
        if server.kind == "server" and server.state in METRIC_STATES and server.external_id:
            by_account[server.cloud_account_id].append(server)
    answer: dict[int, Any] = {}
    for account in CloudAccount.objects.filter(pk__in=by_account).order_by("pk"):
        group = by_account[account.pk]
        try:
            found = read(metrics_source(account), [s.external_id for s in group])
        except ProviderError as error:
            logger.warning("metrics of account %s: %s", account.name, error.message)
            continue
        answer.update({s.pk: found[s.external_id] for s in group if s.external_id in found})
    return answer


def servers_metrics(
    *,
    servers: Sequence[MetricServer],
    since: datetime,
    until: datetime,
    step: timedelta = timedelta(minutes=5),
) -> dict[int, list[MetricPoint]]:
    """Each server's utilisation in [since, until) by resource id, from its account's metrics
    source: one call per account, however many servers. Servers not running or stopped, and
    those the source knows nothing about, are left out; a source that fails counts as having
    nothing (logged), so no policy acts on it. Callers apply visibility."""
    return _per_account(servers, lambda source, ids: source.series(ids, since, until, step))


def servers_metric_means(
    *, servers: Sequence[MetricServer], since: datetime, until: datetime, step: timedelta
) -> dict[int, MetricMean]:
    """Each server's mean utilisation over the points `servers_metrics` would read, by resource
    id, asked of the source as a mean (no point sent that only gets averaged away)."""
    return _per_account(servers, lambda source, ids: source.means(ids, since, until, step))


def resource_metrics(
    *, resource: Resource, since: datetime, until: datetime, step: timedelta = timedelta(minutes=5)
) -> list[MetricPoint]:
    """The resource's utilisation in [since, until), one point per `step`, oldest first.

    A server: its account's metrics source's series. An autoscaling group: per interval, the
    average over its active servers (one call for all; an interval none of them reports is
    left out). Other kinds, and resources not running or stopped, have none. Callers apply
    visibility (see `resource_list`).
    """
    if resource.kind not in METRIC_KINDS or resource.state not in METRIC_STATES:
        return []
    if resource.kind == "server":
        series = servers_metrics(servers=[resource], since=since, until=until, step=step)
        return series.get(resource.pk, [])
    servers = resource.children.filter(kind="server", state=ResourceState.ACTIVE)
    series = servers_metrics(
        servers=list(servers.exclude(external_id="").select_related("cloud_account")),
        since=since,
        until=until,
        step=step,
    )
    by_interval: dict[datetime, list[MetricPoint]] = defaultdict(list)
    for points in series.values():
        for point in points:
            by_interval[point.at].append(point)
    return [
        MetricPoint(
            at=at,
            cpu_percent=round(average.cpu_percent, 1),
            network_kbps=round(average.network_kbps, 1),
        )
        for at, points in sorted(by_interval.items())
        if (average := metric_average(points))
    ]


def step_error_list(*, user: AbstractUser) -> QuerySet[Step]:
    """Steps of the user's resources that hit a provider error (the dashboard's failures), each
    with `at`: when it last ran (finished, else started, else created)."""
    return (
        Step.objects.filter(resource__in=resource_list(user=user).values("pk"))
        .exclude(last_error="")
        .annotate(at=Coalesce("finished_at", "started_at", "created_at"))
        .select_related("resource")
    )
