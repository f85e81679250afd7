"""Writes for autoscaling: people's policies and schedules, and the periodic evaluation that turns
them into scaling sagas (provisioning's `set_desired` day-2 action).

One evaluation of a group:
1. skip it while a scaling saga runs (the group is `updating`) or within the cooldown after the
   last activity finished (a refused one waits at least `REFUSED_RETRY`, so managers are not
   notified every minute);
2. bounds: the group's `min`/`max` properties are hard; enabled policies may narrow them; an
   active schedule raises the floor to its count (see `ScalingSchedule`);
3. below the floor or above the ceiling → go straight to it; else scale out by the largest
   `step` when ANY policy's metric stayed above its threshold for its whole window, or scale in
   when EVERY policy's metric stayed below (capacity one metric still needs is never removed);
4. scaling out checks the budget here and the quota in provisioning's admission; a refusal is a
   `refused` activity, audited, and notified to the project's managers.
The metrics are read before the group's row is locked; the checks are repeated under the lock,
so two evaluations running at once act once.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from autoscaling.models import ScalingActivity, ScalingPolicy, ScalingSchedule, group_bounds
from autoscaling.selectors import (
    GROUP_KIND,
    group_size,
    may_manage,
    project_managers,
    schedule_is_active,
)
from billing.pricing import monthly_quote
from billing.selectors.budgets import budget_check
from core.services import audit_record, notify
from provisioning.models import Resource, ResourceState
from provisioning.providers.base import MetricPoint
from provisioning.selectors import resource_metrics
from provisioning.services import resource_action_request

logger = logging.getLogger(__name__)

# Policies judge one-minute points of the group's average.
METRIC_STEP = timedelta(minutes=1)
REFUSED_RETRY = timedelta(minutes=10)
Status = ScalingActivity.Status


@dataclass(frozen=True)
class Decision:
    target: int
    cause: str


# --- policies and schedules ---------------------------------------------------------------
def _check_group(user: AbstractUser, group: Resource) -> None:
    if group.kind != GROUP_KIND:
        raise ValidationError({"group": ["Scaling rules apply to autoscaling groups only."]})
    if group.state == ResourceState.DELETED:
        raise ValidationError({"group": ["The group is deleted."]})
    if not may_manage(user=user, group=group):
        raise PermissionDenied("Only the project's managers change its scaling rules.")


def _save(user: AbstractUser, instance: Any, data: dict[str, Any], what: str) -> Any:
    for name, value in data.items():
        setattr(instance, name, value)
    _check_group(user, instance.group)
    created = instance.pk is None
    instance.full_clean()
    instance.save()
    audit_record(
        action=f"autoscaling.{what}.{'created' if created else 'updated'}",
        target=instance.group,
        actor=user,
        message=str(instance),
        order_id=instance.group.order_id,
    )
    return instance


def _delete(user: AbstractUser, instance: Any, what: str) -> None:
    _check_group(user, instance.group)
    audit_record(
        action=f"autoscaling.{what}.deleted",
        target=instance.group,
        actor=user,
        message=str(instance),
        order_id=instance.group.order_id,
    )
    instance.delete()


@transaction.atomic
def policy_save(
    *, user: AbstractUser, policy: ScalingPolicy | None, data: dict[str, Any]
) -> ScalingPolicy:
    """Create (`policy` None, `data` naming the group) or change a group's scaling policy."""
    return _save(user, policy or ScalingPolicy(), data, "policy")


@transaction.atomic
def policy_delete(*, user: AbstractUser, policy: ScalingPolicy) -> None:
    _delete(user, policy, "policy")


@transaction.atomic
def schedule_save(
    *, user: AbstractUser, schedule: ScalingSchedule | None, data: dict[str, Any]
) -> ScalingSchedule:
    """Create (`schedule` None, `data` naming the group) or change a group's schedule."""
    return _save(user, schedule or ScalingSchedule(), data, "schedule")


@transaction.atomic
def schedule_delete(*, user: AbstractUser, schedule: ScalingSchedule) -> None:
    _delete(user, schedule, "schedule")


# --- deciding -----------------------------------------------------------------------------
def _value(policy: ScalingPolicy, point: MetricPoint) -> float:
    return point.cpu_percent if policy.metric == ScalingPolicy.Metric.CPU else point.network_kbps


def _stayed(
    policy: ScalingPolicy, points: list[MetricPoint], now: datetime, minutes: int, above: bool
) -> float | None:
    """The window's average when every point of the last `minutes` (and enough of them) is
    above (or below) the threshold, else None."""
    window = [_value(policy, p) for p in points if p.at >= now - timedelta(minutes=minutes)]
    if len(window) < minutes * timedelta(minutes=1) / METRIC_STEP:
        return None
    threshold = policy.scale_out_threshold if above else policy.scale_in_threshold
    if all((v > threshold) if above else (v < threshold) for v in window):
        return sum(window) / len(window)
    return None


def _vote(policy: ScalingPolicy, points: list[MetricPoint], now: datetime) -> tuple[str, str]:
    """("out" | "in" | "", why)."""
    label = policy.get_metric_display()
    average = _stayed(policy, points, now, policy.scale_out_window, above=True)
    if average is not None:
        return "out", (
            f"{label} above {policy.scale_out_threshold:g} for {policy.scale_out_window} min "
            f"(average {average:.1f})"
        )
    average = _stayed(policy, points, now, policy.scale_in_window, above=False)
    if average is not None:
        return "in", (
            f"{label} below {policy.scale_in_threshold:g} for {policy.scale_in_window} min "
            f"(average {average:.1f})"
        )
    return "", ""


def decide(
    *,
    group: Resource,
    size: int,
    policies: list[ScalingPolicy],
    schedules: list[ScalingSchedule],
    now: datetime,
) -> Decision | None:
    """What the group's size should become now, and why; None to leave it."""
    hard_low, hard_high = low, high = group_bounds(group)
    for policy in policies:
        policy_low, policy_high = policy.bounds()
        low, high = max(low, policy_low), min(high, policy_high)
    high = max(high, low)
    active = [s for s in schedules if schedule_is_active(schedule=s, now=now)]
    schedule = max(active, key=lambda s: s.desired, default=None)
    floor = min(max(schedule.desired, hard_low), hard_high) if schedule else None
    if floor is not None and floor >= low:
        low, high = floor, max(high, floor)
    decision = None
    if size < low:
        why = f"schedule {schedule.name!r}" if floor == low else "below the minimum"
        decision = Decision(low, f"{why}: at least {low} servers")
    elif size > high:
        decision = Decision(high, f"above the policy maximum of {high} servers")
    elif policies:
        minutes = max(max(p.scale_out_window, p.scale_in_window) for p in policies)
        points = resource_metrics(
            resource=group, since=now - timedelta(minutes=minutes), until=now, step=METRIC_STEP
        )
        votes = [(policy, *_vote(policy, points, now)) for policy in policies]
        outs = [(p, why) for p, vote, why in votes if vote == "out"]
        if outs and size < high:
            step = max(p.step for p, _ in outs)
            decision = Decision(min(size + step, high), "; ".join(why for _, why in outs))
        elif not outs and all(vote == "in" for _, vote, _ in votes) and size > low:
            step = max(p.step for p in policies)
            decision = Decision(max(size - step, low), "; ".join(why for _, _, why in votes))
    elif schedule is not None and size > floor:
        decision = Decision(floor, f"schedule {schedule.name!r}: {floor} servers")
    return decision


# --- acting -------------------------------------------------------------------------------
def _cooling(group: Resource, policies: list[ScalingPolicy], now: datetime) -> bool:
    last = group.scaling_activities.order_by("-at", "-id").first()
    if last is None:
        return False
    if last.status == Status.REQUESTED:
        return True  # its saga has not been seen to finish yet
    wait = timedelta(minutes=max((p.cooldown for p in policies), default=0))
    if last.status == Status.REFUSED:
        wait = max(wait, REFUSED_RETRY)
    ended = max(last.at, last.finished_at or last.at)
    return now < ended + wait


def _budget_problem(group: Resource, added: int) -> str | None:
    cost = monthly_quote(
        cloud_account_id=group.cloud_account_id,
        resources=[{"kind": "server", "count": added, "properties": group.properties}],
    )
    return budget_check(project=group.project, monthly_cost=cost)


def _refuse(activity: ScalingActivity, message: str) -> ScalingActivity:
    group = activity.group
    activity.status = Status.REFUSED
    activity.message = message
    activity.finished_at = activity.at
    activity.save()
    audit_record(
        action="autoscaling.refused",
        target=group,
        message=f"{activity.from_count} → {activity.to_count} ({activity.cause}): {message}",
        order_id=group.order_id,
    )
    url = reverse("provisioning:resource_detail", args=[group.pk])
    for manager in project_managers(project=group.project):
        notify(
            user=manager,
            subject=f"Autoscaling of {group.name} refused",
            body=(
                f"{group.name} in {group.project.name} needed {activity.to_count} servers "
                f"(now {activity.from_count}) because {activity.cause}, but: {message}"
            ),
            url=url,
        )
    return activity


@transaction.atomic
def _act(group_id: int, size: int, decision: Decision, now: datetime) -> ScalingActivity | None:
    group = Resource.objects.select_for_update().select_related("project").get(pk=group_id)
    policies = list(group.scaling_policies.filter(enabled=True))
    # Checked again under the lock: another evaluation may have acted meanwhile.
    if (
        group.state != ResourceState.ACTIVE
        or _cooling(group, policies, now)
        or group_size(group=group) != size
    ):
        return None
    activity = ScalingActivity(
        group=group, at=now, from_count=size, to_count=decision.target, cause=decision.cause
    )
    if decision.target > size:
        problem = _budget_problem(group, decision.target - size)
        if problem:
            return _refuse(activity, problem)
    try:
        with transaction.atomic():  # a refusal rolls back only the request
            step = resource_action_request(
                user=None,
                resource_id=group.pk,
                action="set_desired",
                params={"desired": decision.target},
                reason=f"autoscaling: {decision.cause}",
            )
    except ValidationError as error:
        return _refuse(activity, " ".join(error.messages))
    activity.status = Status.REQUESTED
    activity.step = step
    activity.save()
    audit_record(
        action="autoscaling.requested",
        target=group,
        message=f"{size} → {decision.target}: {decision.cause}",
        order_id=group.order_id,
    )
    return activity


@transaction.atomic
def activities_settle(*, group_id: int | None = None) -> int:
    """Close requested activities whose saga ended: completed once the group is active again,
    failed when the saga failed. Returns how many were closed."""
    requested = ScalingActivity.objects.select_for_update(of=("self",)).filter(
        status=Status.REQUESTED
    )
    if group_id is not None:
        requested = requested.filter(group_id=group_id)
    closed = 0
    for activity in requested.select_related("group", "step__deployment"):
        step, state = activity.step, activity.group.state
        if step is not None and step.state == "done" and state == ResourceState.ACTIVE:
            activity.status = Status.COMPLETED
            activity.finished_at = step.finished_at
        elif step is None or step.state in ("failed", "cancelled") or state == ResourceState.ERROR:
            activity.status = Status.FAILED
            activity.finished_at = timezone.now()
            deployment = step.deployment if step else None
            activity.message = (deployment.message if deployment else "") or (
                activity.group.status_message
            )
        else:
            continue
        activity.save()
        closed += 1
    return closed


def evaluate_group(*, group_id: int, now: datetime | None = None) -> ScalingActivity | None:
    """Evaluate one group's policies and schedules; the activity it started or refused."""
    now = now or timezone.now()
    group = Resource.objects.get(pk=group_id)
    if group.state != ResourceState.ACTIVE:
        return None
    policies = list(group.scaling_policies.filter(enabled=True))
    schedules = list(group.scaling_schedules.filter(enabled=True))
    if _cooling(group, policies, now):
        return None
    size = group_size(group=group)
    decision = decide(group=group, size=size, policies=policies, schedules=schedules, now=now)
    if decision is None or decision.target == size:
        return None
    return _act(group.pk, size, decision, now)


def evaluate(*, now: datetime | None = None) -> int:
    """The periodic task: settle finished activities, then evaluate every active group with an
    enabled policy or schedule. Returns how many activities it recorded."""
    now = now or timezone.now()
    activities_settle()
    groups = (
        Resource.objects.filter(kind=GROUP_KIND, state=ResourceState.ACTIVE)
        .filter(Q(scaling_policies__enabled=True) | Q(scaling_schedules__enabled=True))
        .distinct()
        .values_list("pk", flat=True)
    )
    recorded = 0
    for group_id in groups:
        try:
            recorded += evaluate_group(group_id=group_id, now=now) is not None
        except Exception:  # one broken group must not stop the others' scaling
            logger.exception("Autoscaling could not evaluate group %s", group_id)
    return recorded
