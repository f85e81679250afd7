"""Reads for autoscaling; visibility follows the group's project (provisioning's resources)."""

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractUser
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from approvals.selectors.deciders import role_members
from autoscaling.models import ScalingActivity, ScalingPolicy, ScalingSchedule
from core.models import Project
from core.selectors import head_and_count, project_ids, user_has_project_perm
from provisioning.models import Resource, ResourceState
from provisioning.selectors import metric_average, resource_list, resource_metrics

GROUP_KIND = "autoscaling_group"
# Servers that count towards a group's size (as provisioning's `_scale` counts them).
GONE = (ResourceState.DELETED, ResourceState.DELETING)


def group_list(*, user: AbstractUser) -> QuerySet[Resource]:
    """Autoscaling groups the user sees."""
    return resource_list(user=user).filter(kind=GROUP_KIND).exclude(state=ResourceState.DELETED)


def may_manage(*, user: AbstractUser, group: Resource) -> bool:
    """Project managers and the organization's admins set a group's policies and schedules."""
    return user_has_project_perm(user=user, project=group.project, perm="approve_for_project")


def project_managers(*, project: Project) -> list[AbstractUser]:
    """Who is told about a refused scaling action: whoever may approve for the project."""
    managers = role_members(role="project_manager", project=project)
    return list(managers.filter(is_active=True).order_by("username"))


def _visible(queryset: QuerySet, user: AbstractUser) -> QuerySet:
    return queryset.filter(group__project__in=project_ids(user=user, perm="view_project"))


def policy_list(*, user: AbstractUser) -> QuerySet[ScalingPolicy]:
    return _visible(ScalingPolicy.objects.select_related("group"), user)


def schedule_list(*, user: AbstractUser) -> QuerySet[ScalingSchedule]:
    return _visible(ScalingSchedule.objects.select_related("group"), user)


def activity_list(*, user: AbstractUser) -> QuerySet[ScalingActivity]:
    return _visible(ScalingActivity.objects.select_related("group"), user)


def group_size(*, group: Resource) -> int:
    return group.children.exclude(state__in=GONE).count()


def schedule_is_active(*, schedule: ScalingSchedule, now: datetime) -> bool:
    """On one of its days between start and end, in its time zone; an end before the start runs
    past midnight (the part after midnight belongs to the day it started)."""
    local = now.astimezone(ZoneInfo(schedule.timezone))
    day, time = local.weekday(), local.time().replace(tzinfo=None)
    if schedule.start < schedule.end:
        return day in schedule.days and schedule.start <= time < schedule.end
    return (day in schedule.days and time >= schedule.start) or (
        (day - 1) % 7 in schedule.days and time < schedule.end
    )


def current_load(*, group: Resource, now: datetime | None = None) -> dict[str, float] | None:
    """The group's average CPU and network over the last five minutes, if it reports any."""
    now = now or timezone.now()
    points = resource_metrics(
        resource=group, since=now - timedelta(minutes=5), until=now, step=timedelta(minutes=1)
    )
    average = metric_average(points)
    if average is None:
        return None
    return {"cpu": round(average.cpu_percent, 1), "network": round(average.network_kbps, 1)}


def group_scaling(*, user: AbstractUser, group: Resource) -> dict[str, Any]:
    """What the group's resource page shows: its rules, recent activity and current load."""
    now = timezone.now()
    schedules = list(group.scaling_schedules.all())
    return {
        "group": group,
        "size": group_size(group=group),
        "min": group.properties.get("min"),
        "max": group.properties.get("max"),
        "desired": group.properties.get("desired"),
        "policies": list(group.scaling_policies.all()),
        "schedules": [
            (s, s.enabled and schedule_is_active(schedule=s, now=now)) for s in schedules
        ],
        "activities": list(group.scaling_activities.all()[:10]),
        "load": current_load(group=group, now=now),
        "may_manage": may_manage(user=user, group=group),
    }


def dashboard_summary(*, user: AbstractUser) -> dict[str, Any]:
    """For the dashboard: every visible group with its size, bounds and last activity, and the
    scaling actions refused in the last day (quota, budget)."""
    since = timezone.now() - timedelta(days=1)
    last = ScalingActivity.objects.filter(group=OuterRef("pk")).order_by("-at", "-id")
    rows = (
        group_list(user=user)
        .annotate(
            current=Count("children", filter=~Q(children__state__in=GONE)),
            last_activity_id=Subquery(last.values("pk")[:1]),
        )
        .order_by("name")
    )
    activities = ScalingActivity.objects.in_bulk([g.last_activity_id for g in rows])
    groups = [
        {
            "group": group,
            "current": group.current,
            "desired": group.properties.get("desired"),
            "min": group.properties.get("min"),
            "max": group.properties.get("max"),
            "last_activity": activities.get(group.last_activity_id),
        }
        for group in rows
    ]
    refused = activity_list(user=user).filter(status=ScalingActivity.Status.REFUSED, at__gte=since)
    refused_head, refused_count = head_and_count(refused, 10)
    return {"groups": groups, "refused": refused_head, "refused_count": refused_count}
