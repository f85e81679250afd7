"""Scaling policies, schedules and activities over the API: listed by project, written by
managers only, changed and deleted through the services (audited)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from autoscaling.models import ScalingSchedule
from autoscaling.services import evaluate
from autoscaling.tests.helpers import (
    POLICY,
    scaling_group,
)
from core.models import AuditEvent
from provisioning.services.simulation import simulated_load_set

pytestmark = pytest.mark.django_db


def test_api_lists_by_project_and_only_managers_write(shop, api_as):
    group = scaling_group(shop)
    bob, alice, dave = api_as(shop["bob"]), api_as(shop["alice"]), api_as(shop["dave"])
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

    simulated_load_set(resource=group, load=95)
    evaluate(now=timezone.now() + timedelta(hours=1))
    activities = alice.get(f"/api/v1/scaling-activities/?group={group.pk}").json()
    assert [(a["from_count"], a["to_count"], a["status"]) for a in activities["results"]] == [
        (1, 2, "requested")
    ]
    assert dave.get("/api/v1/scaling-activities/").json()["count"] == 0
    assert bob.delete(f"/api/v1/scaling-policies/{policy_id}/").status_code == 204
    assert AuditEvent.objects.filter(action="autoscaling.policy.deleted").exists()


def test_api_changes_and_deletes_a_schedule_through_the_services(shop, api_as):
    group = scaling_group(shop)
    bob, alice = api_as(shop["bob"]), api_as(shop["alice"])
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
