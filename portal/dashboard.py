"""Reads for the dashboard and the resource charts. Visibility comes from the apps' own selectors
(resources and orders follow their project, costs follow billing's rules), so the dashboard shows
exactly what the rest of the portal shows the same user. A constant number of queries.

Kept apart from core.selectors, which the other apps' selectors import.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db.models import Count, QuerySet
from django.urls import reverse
from django.utils import timezone

from approvals.selectors.deciders import pending_approval_count, pending_approval_total
from autoscaling.selectors import dashboard_summary as autoscaling_summary
from billing.selectors.dashboard import dashboard_spend
from catalog.models import OrderStatus
from catalog.selectors.orders import order_list
from core.selectors import project_ids, reads_shared
from lifecycle.selectors.dashboard import dashboard_summary as lifecycle_summary
from portal.rollups import counts_by, resource_counts
from provisioning.models import ResourceState
from provisioning.providers.base import MetricPoint
from provisioning.selectors import drift_summary, resource_list, step_error_list

IN_FLIGHT = [
    OrderStatus.SUBMITTED,
    OrderStatus.PENDING_APPROVAL,
    OrderStatus.APPROVED,
    OrderStatus.PROVISIONING,
]
FAILURE_WINDOW = timedelta(hours=24)
LIST_LIMIT = 10


def _resource_counts(user: AbstractUser) -> dict[str, Any]:
    """Live resources by state and by provider, from the rollup of the user's projects (the
    projects `resource_list` shows them), as of when it was counted."""
    counts, counted_at = resource_counts(projects=project_ids(user=user, perm="view_project"))
    by_state: Counter[str] = Counter()
    by_provider: Counter[str] = Counter()
    for state, provider, n in counts_by(
        counts.exclude(state=ResourceState.DELETED), "state", "provider"
    ):
        by_state[state] += n
        by_provider[provider] += n
    # States in their lifecycle order, as the FSM lists them.
    states = [state for state in ResourceState.values if by_state[state]]
    return {
        "total": sum(by_state.values()),
        "by_state": {state: by_state[state] for state in states},
        "by_provider": dict(sorted(by_provider.items())),
        "counted_at": counted_at,
    }


def _orders_in_flight(user: AbstractUser) -> dict[str, Any]:
    orders = order_list(user=user).filter(status__in=IN_FLIGHT)
    counts = dict(orders.values_list("status").annotate(n=Count("pk")).order_by())
    return {
        "total": sum(counts.values()),
        "by_status": {status: counts[status] for status in IN_FLIGHT if status in counts},
        "recent": list(orders.order_by("-updated_at")[:LIST_LIMIT]),
    }


def _approvals(user: AbstractUser) -> dict[str, int]:
    """Waiting for the user's decision, and waiting in all the projects the user sees."""
    return {"mine": pending_approval_count(user=user), "total": pending_approval_total(user=user)}


@dataclass
class Failure:
    at: datetime
    what: str
    message: str
    url: str


def _newest(rows: QuerySet, *, at: str, since: datetime) -> QuerySet:
    """The rows whose `at` is `since` or later, newest first, at most LIST_LIMIT of them."""
    return rows.filter(**{f"{at}__gte": since}).order_by(f"-{at}")[:LIST_LIMIT]


def _failures(user: AbstractUser, since: datetime) -> list[Failure]:
    """Failed orders, steps that hit a provider error, and resources in error, newest first."""
    orders = order_list(user=user).filter(status=OrderStatus.FAILED)
    resources = resource_list(user=user).filter(
        state__in=[ResourceState.ERROR, ResourceState.MISSING]
    )
    failures = [
        Failure(
            at=order.updated_at,
            what=f"order #{order.pk} {order.item.name} failed",
            message=order.status_message,
            url=reverse("catalog:order_detail", args=[order.pk]),
        )
        for order in _newest(orders, at="updated_at", since=since)
    ]
    failures += [
        Failure(
            at=step.at,
            what=f"{step.action} {step.resource.kind} {step.resource.name}: step {step.state}"
            + (f" after {step.attempts} attempts" if step.attempts > 1 else ""),
            message=step.last_error,
            url=reverse("provisioning:resource_detail", args=[step.resource_id]),
        )
        for step in _newest(step_error_list(user=user), at="at", since=since)
    ]
    failures += [
        Failure(
            at=resource.state_changed_at,
            what=f"{resource.kind} {resource.name} is {resource.state}",
            message=resource.status_message,
            url=reverse("provisioning:resource_detail", args=[resource.pk]),
        )
        for resource in _newest(resources, at="state_changed_at", since=since)
    ]
    return sorted(failures, key=lambda failure: failure.at, reverse=True)[: 2 * LIST_LIMIT]


def dashboard_summary(*, user: AbstractUser, now: datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard shows the user, scoped like the rest of the portal; the
    lifecycle and autoscaling panels come from those apps' own selectors."""
    now = now or timezone.now()
    with reads_shared():  # the panels ask the same visibility questions
        return _summary(user, now)


def _summary(user: AbstractUser, now: datetime) -> dict[str, Any]:
    return {
        "at": now,
        "resources": _resource_counts(user),
        "orders": _orders_in_flight(user),
        "approvals": _approvals(user),
        "spend": dashboard_spend(user=user, now=now, top=LIST_LIMIT),
        "failures": _failures(user, now - FAILURE_WINDOW),
        "lifecycle": lifecycle_summary(user=user, now=now),
        "autoscaling": autoscaling_summary(user=user),
        "drift": drift_summary(user=user),
    }


# --- resource charts ------------------------------------------------------------------------
CHART_WIDTH = 600
CHART_HEIGHT = 120
# The chart ranges offered on the resource page: label → (length, step).
CHART_RANGES = {
    "1h": (timedelta(hours=1), timedelta(minutes=1)),
    "24h": (timedelta(hours=24), timedelta(minutes=15)),
}
CHART_RANGE_CHOICES = f"Choose one of: {', '.join(CHART_RANGES)}."  # for an unknown range


@dataclass
class LineChart:
    """A server-rendered SVG polyline: points in the chart's own coordinates."""

    title: str
    unit: str
    peak: float
    latest: float | None
    points: str
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


def line_chart(
    *,
    points: list[MetricPoint],
    field: str,
    title: str,
    unit: str,
    since: datetime,
    until: datetime,
    ceiling: float | None = None,
) -> LineChart:
    """Scale `field` of each point to the chart: time on x over [since, until], 0..ceiling on y
    (the series' peak when no ceiling is given, e.g. network; CPU is 0..100)."""
    values = [getattr(point, field) for point in points]
    peak = ceiling or max(values, default=0.0) or 1.0
    span = (until - since).total_seconds() or 1.0
    coordinates = " ".join(
        f"{(point.at - since).total_seconds() / span * CHART_WIDTH:.1f},"
        f"{CHART_HEIGHT - min(value / peak, 1.0) * CHART_HEIGHT:.1f}"
        for point, value in zip(points, values, strict=True)
    )
    return LineChart(
        title=title,
        unit=unit,
        peak=round(peak, 1),
        latest=values[-1] if values else None,
        points=coordinates,
    )


def resource_charts(
    *, points: list[MetricPoint], since: datetime, until: datetime
) -> list[LineChart]:
    """The CPU and network charts of a resource page."""
    return [
        line_chart(
            points=points,
            field="cpu_percent",
            title="CPU",
            unit="%",
            since=since,
            until=until,
            ceiling=100.0,
        ),
        line_chart(
            points=points,
            field="network_kbps",
            title="Network",
            unit="kbps",
            since=since,
            until=until,
        ),
    ]
