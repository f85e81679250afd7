"""Autoscaling by policy: the sandbox drives a group's CPU high and it grows step by step to
`max`, respecting the cooldown; the CPU drops and it shrinks to `min`; the load balancer's
members follow at every step. A short spike does not scale; a scale-out over the quota or a
refusing budget is refused. The sagas run in the test process; `evaluate` gets a moving
`now`, so minutes pass without waiting."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from celery import current_app as celery_app
from django.utils import timezone

from approvals.models import Quota
from autoscaling.models import ScalingActivity
from autoscaling.selectors import dashboard_summary, group_size
from autoscaling.services import evaluate, policy_save
from autoscaling.tests.factories import ScalingPolicyFactory
from autoscaling.tests.helpers import (
    MINUTE,
    POLICY,
    scaling_group,
    settle_and_check,
)
from billing.models import Budget
from catalog.tests.saga import run_queued
from core.models import AuditEvent, Notification
from provisioning.models import SandboxObject
from provisioning.services.simulation import simulated_load_set

pytestmark = pytest.mark.django_db


def test_a_busy_group_grows_to_max_and_shrinks_to_min_respecting_cooldown(shop):
    group = scaling_group(shop)
    policy = policy_save(user=shop["bob"], policy=None, data={"group": group, **POLICY})
    simulated_load_set(resource=group, load=90)
    low, high = group.properties["min"], group.properties["max"]
    # Ahead of the clock: each saga (run at once here) has finished by the `now` it started at,
    # so the cooldown counts from the activity's time.
    now = timezone.now() + timedelta(hours=1)

    sizes = [group_size(group=group)]
    while sizes[-1] < high:
        assert evaluate(now=now) == 1
        assert evaluate(now=now) == 0  # idempotent: the saga is running
        settle_and_check(group)
        sizes.append(group_size(group=group))
        # Inside the cooldown nothing happens, however busy the group is.
        for minutes in range(1, policy.cooldown):
            assert evaluate(now=now + minutes * MINUTE) == 0
        now += policy.cooldown * MINUTE
    assert sizes == list(range(low, high + 1))  # one server at a time (step 1)
    assert evaluate(now=now) == 0  # at max: nothing more to do
    evaluate(now=now)  # closes the last activity
    out = list(ScalingActivity.objects.filter(group=group).order_by("at"))
    assert [(a.from_count, a.to_count, a.status) for a in out] == [
        (n, n + 1, "completed") for n in range(low, high)
    ]
    assert all(b.at - a.at == policy.cooldown * MINUTE for a, b in pairwise(out))
    assert "CPU % above 70" in out[0].cause

    simulated_load_set(resource=group, load=10)
    # Scaling in waits for a whole window below the threshold.
    now += policy.scale_in_window * MINUTE
    while group_size(group=group) > low:
        before = group_size(group=group)
        assert evaluate(now=now) == 1
        settle_and_check(group)
        assert group_size(group=group) == before - 1
        assert evaluate(now=now + (policy.cooldown - 1) * MINUTE) == 0
        now += policy.cooldown * MINUTE
    assert evaluate(now=now) == 0  # at min
    assert SandboxObject.objects.filter(kind="server").count() == low
    statuses = ScalingActivity.objects.filter(group=group).values_list("status", flat=True)
    assert set(statuses) == {"completed"} and len(statuses) == 2 * (high - low)
    assert AuditEvent.objects.filter(action="autoscaling.requested").count() == 2 * (high - low)


def test_a_finished_saga_closes_its_activity_without_waiting_for_the_next_run(
    shop, django_capture_on_commit_callbacks, monkeypatch
):
    group = scaling_group(shop)
    monkeypatch.setattr(celery_app, "send_task", lambda *args, **options: None)  # we run them
    ScalingPolicyFactory(group=group, **POLICY)
    simulated_load_set(resource=group, load=90)
    assert evaluate(now=timezone.now() + timedelta(hours=1)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        run_queued()
    activity = ScalingActivity.objects.get(group=group)
    assert activity.status == "completed" and activity.finished_at is not None


def test_a_short_spike_does_not_scale(shop):
    group = scaling_group(shop)
    ScalingPolicyFactory(group=group, **POLICY)
    simulated_load_set(resource=group, load="wave:4")  # 2 minutes high, 2 low: never 3 in a row
    now = datetime(2030, 3, 6, 12, 0, tzinfo=UTC)
    for minute in range(12):
        assert evaluate(now=now + minute * MINUTE) == 0
    assert not ScalingActivity.objects.exists()


def test_a_scale_out_over_quota_is_refused_shown_and_notified(shop):
    group = scaling_group(shop)
    ScalingPolicyFactory(group=group, **POLICY)
    simulated_load_set(resource=group, load=95)
    Quota.objects.filter(project=group.project).update(max_servers=0)
    now = timezone.now()
    assert evaluate(now=now) == 1
    refused = ScalingActivity.objects.get(group=group)
    assert (refused.status, refused.from_count, refused.to_count) == ("refused", 1, 2)
    assert "quota" in refused.message
    group.refresh_from_db()
    assert group.state == "active" and group_size(group=group) == 1  # nothing was started
    notice = Notification.objects.get(user=shop["bob"], subject__startswith="Autoscaling of")
    assert "refused" in notice.subject and "quota" in notice.body
    # Managers only (alice, a member, was told about her order, not about scaling).
    assert not Notification.objects.filter(user=shop["alice"], subject__startswith="Autoscaling of")
    assert AuditEvent.objects.filter(action="autoscaling.refused", target_id=str(group.pk))
    # Not retried (nor re-notified) every minute.
    assert evaluate(now=now + 2 * MINUTE) == 0
    assert Notification.objects.filter(subject__startswith="Autoscaling of").count() == 1
    assert dashboard_summary(user=shop["bob"])["refused_count"] == 1


def test_a_scale_out_over_a_refusing_budget_is_refused(shop):
    group = scaling_group(shop)
    ScalingPolicyFactory(group=group, **POLICY)
    simulated_load_set(resource=group, load=95)
    Budget.objects.filter(project=group.project).update(
        monthly_amount=Decimal("0.01"), refuse_orders_over_budget=True
    )
    assert evaluate(now=timezone.now()) == 1
    refused = ScalingActivity.objects.get(group=group)
    assert refused.status == "refused" and "over its budget" in refused.message
    assert group_size(group=group) == 1
