"""Autoscaling: the sandbox drives a group's CPU high and it grows step by step to `max`,
respecting the cooldown; the CPU drops and it shrinks to `min`; the load balancer's members follow
at every step. Plus refused scale-outs (quota, budget), schedules, and who may change the rules.

The sagas run in the test process the way tests/test_saga.py plays the worker; `evaluate` gets a
moving `now`, so minutes pass without waiting.
"""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from celery import current_app as celery_app
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.loader import render_to_string
from django.utils import timezone

from approvals.models import Quota
from autoscaling.models import ScalingActivity, ScalingPolicy, ScalingSchedule
from autoscaling.selectors import dashboard_summary, group_size
from autoscaling.services import evaluate, policy_save, schedule_save
from autoscaling.tests.factories import ScalingPolicyFactory, ScalingScheduleFactory
from autoscaling.tests.helpers import active_servers, balancer_members
from billing.models import Budget
from catalog.models import Order
from core.models import AuditEvent, Notification
from provisioning.models import Resource, SandboxObject
from provisioning.services import deployment_start, sandbox_set_load
from tests.test_saga import admit_and_deploy, approved_order, run_queued

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)
POLICY = {
    "metric": "cpu",
    "scale_out_threshold": 70,
    "scale_out_window": 3,
    "scale_in_threshold": 30,
    "scale_in_window": 4,
    "step": 1,
    "cooldown": 5,
}


@pytest.fixture
def group(demo) -> Resource:
    """shop-web: 1 server (min 1, max 4) behind shop-lb."""
    order = approved_order(demo, "autoscaling-web-tier", name="shop", instances=1, max_instances=4)
    deployment_start(order=order)
    run_queued()
    return order.resources.get(kind="autoscaling_group")


def settle_and_check(group: Resource) -> None:
    """Run the scaling saga to its end; the members must then be exactly the active servers."""
    run_queued()
    group.refresh_from_db()
    assert group.state == "active"
    assert balancer_members(group) == active_servers(group)
    assert len(active_servers(group)) == group_size(group=group) == group.properties["desired"]


def test_a_busy_group_grows_to_max_and_shrinks_to_min_respecting_cooldown(demo, group):
    policy = policy_save(user=demo["bob"], policy=None, data={"group": group, **POLICY})
    sandbox_set_load(resource=group, load=90)
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

    sandbox_set_load(resource=group, load=10)
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
    demo, group, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(celery_app, "send_task", lambda *args, **options: None)  # we run them
    ScalingPolicyFactory(group=group, **POLICY)
    sandbox_set_load(resource=group, load=90)
    assert evaluate(now=timezone.now() + timedelta(hours=1)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        run_queued()
    activity = ScalingActivity.objects.get(group=group)
    assert activity.status == "completed" and activity.finished_at is not None


def test_a_short_spike_does_not_scale(demo, group):
    ScalingPolicyFactory(group=group, **POLICY)
    sandbox_set_load(resource=group, load="wave:4")  # 2 minutes high, 2 low: never 3 in a row
    now = datetime(2030, 3, 6, 12, 0, tzinfo=UTC)
    for minute in range(12):
        assert evaluate(now=now + minute * MINUTE) == 0
    assert not ScalingActivity.objects.exists()


def test_a_scale_out_over_quota_is_refused_shown_and_notified(demo, group):
    ScalingPolicyFactory(group=group, **POLICY)
    sandbox_set_load(resource=group, load=95)
    Quota.objects.filter(project=group.project).update(max_servers=0)
    now = timezone.now()
    assert evaluate(now=now) == 1
    refused = ScalingActivity.objects.get(group=group)
    assert (refused.status, refused.from_count, refused.to_count) == ("refused", 1, 2)
    assert "quota" in refused.message
    group.refresh_from_db()
    assert group.state == "active" and group_size(group=group) == 1  # nothing was started
    notice = Notification.objects.get(user=demo["bob"], subject__startswith="Autoscaling of")
    assert "refused" in notice.subject and "quota" in notice.body
    # Managers only (alice, a member, was told about her order, not about scaling).
    assert not Notification.objects.filter(user=demo["alice"], subject__startswith="Autoscaling of")
    assert AuditEvent.objects.filter(action="autoscaling.refused", target_id=str(group.pk))
    # Not retried (nor re-notified) every minute.
    assert evaluate(now=now + 2 * MINUTE) == 0
    assert Notification.objects.filter(subject__startswith="Autoscaling of").count() == 1
    assert dashboard_summary(user=demo["bob"])["refused_count"] == 1


def test_a_scale_out_over_a_refusing_budget_is_refused(demo, group):
    ScalingPolicyFactory(group=group, **POLICY)
    sandbox_set_load(resource=group, load=95)
    Budget.objects.filter(project=group.project).update(
        monthly_amount=Decimal("0.01"), refuse_orders_over_budget=True
    )
    assert evaluate(now=timezone.now()) == 1
    refused = ScalingActivity.objects.get(group=group)
    assert refused.status == "refused" and "over its budget" in refused.message
    assert group_size(group=group) == 1


def test_schedules_set_a_floor_while_active(demo, group):
    # Office hours, Monday to Friday 08:00-18:00 Berlin time: at least 3 servers.
    schedule_save(
        user=demo["bob"],
        schedule=None,
        data={
            "group": group,
            "name": "office hours",
            "days": [0, 1, 2, 3, 4],
            "start": time(8),
            "end": time(18),
            "timezone": "Europe/Berlin",
            "desired": 3,
        },
    )
    sandbox_set_load(resource=group, load=10)
    wednesday_night = datetime(2030, 3, 6, 22, 0, tzinfo=UTC)  # 23:00 in Berlin
    assert evaluate(now=wednesday_night) == 0
    thursday_morning = datetime(2030, 3, 7, 7, 30, tzinfo=UTC)  # 08:30 in Berlin
    assert evaluate(now=thursday_morning) == 1
    settle_and_check(group)
    assert group_size(group=group) == 3
    activity = ScalingActivity.objects.get(group=group)
    assert "office hours" in activity.cause

    # A policy may not take it below the floor while the schedule is active, however idle.
    policy_save(user=demo["bob"], policy=None, data={"group": group, **POLICY, "cooldown": 1})
    assert evaluate(now=thursday_morning + 30 * MINUTE) == 0
    # After office hours the idle group shrinks step by step to min.
    evening = datetime(2030, 3, 7, 18, 0, tzinfo=UTC)  # 19:00 in Berlin
    for minutes in (0, 2):
        assert evaluate(now=evening + minutes * MINUTE) == 1
        settle_and_check(group)
    assert group_size(group=group) == 1


def test_overnight_schedule_without_policy_is_the_target(demo, group):
    ScalingScheduleFactory(
        group=group,
        name="nightly batch",
        days=[2],  # starts Wednesday, runs into Thursday
        start=time(22),
        end=time(2),
        desired=2,
    )
    assert evaluate(now=datetime(2030, 3, 7, 1, 0, tzinfo=UTC)) == 1  # Thursday 01:00
    settle_and_check(group)
    assert group_size(group=group) == 2
    # Once it ends no rule applies: without a policy or another schedule the group stays.
    assert evaluate(now=datetime(2030, 3, 7, 2, 30, tzinfo=UTC)) == 0
    assert group_size(group=group) == 2
    # A second schedule for the small hours brings it down to its own count.
    ScalingScheduleFactory(
        group=group, name="small hours", days=[3], start=time(2), end=time(6), desired=1
    )
    assert evaluate(now=datetime(2030, 3, 7, 2, 45, tzinfo=UTC)) == 1
    settle_and_check(group)
    assert group_size(group=group) == 1


def test_rules_are_checked_and_limited_to_managers(demo, group):
    with pytest.raises(PermissionDenied):
        policy_save(user=demo["alice"], policy=None, data={"group": group, **POLICY})
    with pytest.raises(ValidationError) as error:
        policy_save(
            user=demo["bob"],
            policy=None,
            data={"group": group, **POLICY, "scale_in_threshold": 80, "max_size": 9},
        )
    assert set(error.value.message_dict) == {"scale_in_threshold", "max_size"}
    server = group.children.first()
    with pytest.raises(ValidationError, match="autoscaling groups only"):
        policy_save(user=demo["bob"], policy=None, data={"group": server, **POLICY})
    with pytest.raises(ValidationError) as error:
        schedule_save(
            user=demo["bob"],
            schedule=None,
            data={
                "group": group,
                "name": "x",
                "days": [7],
                "start": time(8),
                "end": time(8),
                "timezone": "Mars/Olympus",
                "desired": 5,
            },
        )
    assert set(error.value.message_dict) == {"days", "end", "timezone", "desired"}
    assert not ScalingPolicy.objects.exists() and not ScalingSchedule.objects.exists()


# --- API, pages, dashboard, demo ------------------------------------------------------------
def test_api_lists_by_project_and_only_managers_write(demo, group, api_as):
    bob, alice, dave = api_as(demo["bob"]), api_as(demo["alice"]), api_as(demo["dave"])
    body = {"group": group.pk, **POLICY}
    assert alice.post("/api/v1/scaling-policies/", body, format="json").status_code == 403
    assert dave.post("/api/v1/scaling-policies/", body, format="json").status_code == 400  # unseen
    created = bob.post("/api/v1/scaling-policies/", body, format="json")
    assert created.status_code == 201, created.json()
    policy_id = created.json()["id"]
    again = bob.post("/api/v1/scaling-policies/", body, format="json")
    assert again.status_code == 400  # one policy per metric and group
    bad = bob.patch(
        f"/api/v1/scaling-policies/{policy_id}/", {"scale_in_threshold": 90}, format="json"
    )
    assert bad.status_code == 400 and "scale_in_threshold" in bad.json()
    assert alice.get("/api/v1/scaling-policies/").json()["count"] == 1  # members read
    assert dave.get("/api/v1/scaling-policies/").json()["count"] == 0
    assert dave.get(f"/api/v1/scaling-policies/{policy_id}/").status_code == 404
    assert alice.delete(f"/api/v1/scaling-policies/{policy_id}/").status_code == 403

    schedule = {
        "group": group.pk,
        "name": "office hours",
        "days": [0, 1, 2, 3, 4],
        "start": "08:00",
        "end": "18:00",
        "timezone": "Europe/Berlin",
        "desired": 2,
    }
    assert alice.post("/api/v1/scaling-schedules/", schedule, format="json").status_code == 403
    answer = bob.post("/api/v1/scaling-schedules/", schedule, format="json")
    assert answer.status_code == 201, answer.json()
    assert isinstance(answer.json()["active"], bool)
    assert alice.get("/api/v1/scaling-schedules/").json()["count"] == 1
    assert dave.get("/api/v1/scaling-schedules/").json()["count"] == 0

    sandbox_set_load(resource=group, load=95)
    evaluate(now=timezone.now() + timedelta(hours=1))
    activities = alice.get(f"/api/v1/scaling-activities/?group={group.pk}").json()
    assert [(a["from_count"], a["to_count"], a["status"]) for a in activities["results"]] == [
        (1, 2, "requested")
    ]
    assert dave.get("/api/v1/scaling-activities/").json()["count"] == 0
    assert bob.delete(f"/api/v1/scaling-policies/{policy_id}/").status_code == 204
    assert AuditEvent.objects.filter(action="autoscaling.policy.deleted").exists()


def test_api_changes_and_deletes_a_schedule_through_the_services(demo, group, api_as):
    bob, alice = api_as(demo["bob"]), api_as(demo["alice"])
    created = bob.post(
        "/api/v1/scaling-schedules/",
        {
            "group": group.pk,
            "name": "nights",
            "days": [5, 6],
            "start": "22:00",
            "end": "06:00",
            "timezone": "UTC",
            "desired": 1,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    url = f"/api/v1/scaling-schedules/{created.json()['id']}/"
    assert alice.patch(url, {"desired": 2}, format="json").status_code == 403
    high = group.properties["max"] + 1
    bad = bob.patch(url, {"desired": high}, format="json")
    assert bad.status_code == 400 and "desired" in bad.json()
    changed = bob.patch(url, {"desired": 2}, format="json")
    assert changed.status_code == 200 and changed.json()["desired"] == 2
    assert alice.delete(url).status_code == 403
    assert bob.delete(url).status_code == 204
    assert not ScalingSchedule.objects.exists()
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="autoscaling.")] == [
        "autoscaling.schedule.created",
        "autoscaling.schedule.updated",
        "autoscaling.schedule.deleted",
    ]


def test_the_group_page_shows_the_panel_and_managers_edit_rules(demo, group, client):
    ScalingPolicyFactory(group=group, **POLICY)
    sandbox_set_load(resource=group, load=95)
    evaluate(now=timezone.now() + timedelta(hours=1))
    client.force_login(demo["alice"])
    page = client.get(f"/resources/{group.pk}/")
    assert b'data-testid="scaling-panel"' in page.content
    assert b"CPU % above 70" in page.content  # the activity
    assert b"Add a policy" not in page.content  # a member does not edit
    assert client.get(f"/autoscaling/groups/{group.pk}/policies/new/").status_code == 403
    assert client.get(f"/autoscaling/groups/{group.pk}/panel/").status_code == 200

    client.force_login(demo["bob"])
    assert b"Add a policy" in client.get(f"/resources/{group.pk}/").content
    form = {
        "name": "nights",
        "days": ["0", "6"],
        "start": "22:00",
        "end": "06:00",
        "timezone": "UTC",
        "desired": "9",
        "enabled": "on",
    }
    url = f"/autoscaling/groups/{group.pk}/schedules/new/"
    refused = client.post(url, form)
    assert refused.status_code == 200 and b"group&#x27;s bounds" in refused.content
    assert client.post(url, {**form, "desired": "2"}).status_code == 302
    schedule = ScalingSchedule.objects.get(group=group)
    assert schedule.days == [0, 6] and schedule.desired == 2
    edit = f"/autoscaling/groups/{group.pk}/schedules/{schedule.pk}/"
    assert client.get(edit).status_code == 200
    assert client.post(edit, {**form, "desired": "3"}).status_code == 302
    schedule.refresh_from_db()
    assert schedule.desired == 3
    assert client.post(f"{edit}delete/").status_code == 302
    assert not ScalingSchedule.objects.exists()
    server = group.children.first()
    assert client.get(f"/resources/{server.pk}/").status_code == 200  # no panel, no error
    assert b"scaling-panel" not in client.get(f"/resources/{server.pk}/").content


def test_dashboard_summary_is_per_user(demo, group, client):
    summary = dashboard_summary(user=demo["alice"])
    [row] = summary["groups"]
    assert (row["group"], row["current"], row["min"], row["max"]) == (group, 1, 1, 4)
    assert row["last_activity"] is None and summary["refused_count"] == 0
    assert dashboard_summary(user=demo["dave"])["groups"] == []
    html = render_to_string("autoscaling/_dashboard.html", {"summary": summary})
    assert group.name in html


def test_destroying_a_member_lowers_desired_down_to_the_minimum(demo, group, api_as, client):
    """AWS's "terminate instance and decrement desired capacity": the group shrinks by the
    destroyed server and does not bring it back; below `min` the request is refused."""
    from provisioning.services import resource_action_request

    resource_action_request(
        user=demo["alice"], resource_id=group.pk, action="set_desired", params={"desired": 3}
    )
    settle_and_check(group)
    first, second, third = group.children.filter(state="active").order_by("id")
    alice = api_as(demo["alice"])

    answer = alice.post(f"/api/v1/resources/{second.pk}/actions/", {"action": "destroy"})
    assert answer.status_code == 202, answer.json()
    admit_and_deploy(answer.data["id"])  # a destroy order: "Acme deletions" approves it at once
    group.refresh_from_db()
    assert group.state == "updating"
    again = alice.post(f"/api/v1/resources/{second.pk}/actions/", {"action": "destroy"})
    assert again.status_code == 400  # one request, one decrement
    settle_and_check(group)
    second.refresh_from_db()
    assert second.state == "deleted" and group.properties["desired"] == 2
    assert active_servers(group) == {first.external_id, third.external_id}

    client.force_login(demo["alice"])
    page = client.post(
        f"/orders/changes/resources/{third.pk}/",
        {"action": "destroy", "confirm": "1"},
        follow=True,
    )
    assert page.status_code == 200
    admit_and_deploy(Order.objects.get(kind="destroy", resource=third).pk)
    settle_and_check(group)
    assert group.properties["desired"] == 1

    refused = alice.post(f"/api/v1/resources/{first.pk}/actions/", {"action": "destroy"})
    assert refused.status_code == 400
    assert "below its minimum of 1" in refused.json()["action"][0]
    first.refresh_from_db()
    group.refresh_from_db()
    assert (first.state, group.state, group.properties["desired"]) == ("active", "active", 1)
    page = client.post(f"/orders/changes/resources/{first.pk}/", {"action": "destroy"}, follow=True)
    assert "below its minimum of 1" in page.content.decode()
