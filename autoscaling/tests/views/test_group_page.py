"""The group's page: the scaling panel for every member, rules edited by managers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from autoscaling.models import ScalingSchedule
from autoscaling.services import evaluate
from autoscaling.tests.factories import ScalingPolicyFactory
from autoscaling.tests.helpers import (
    POLICY,
    scaling_group,
)
from provisioning.services.simulation import simulated_load_set

pytestmark = pytest.mark.django_db


def test_the_group_page_shows_the_panel_and_managers_edit_rules(shop, client):
    group = scaling_group(shop)
    ScalingPolicyFactory(group=group, **POLICY)
    simulated_load_set(resource=group, load=95)
    evaluate(now=timezone.now() + timedelta(hours=1))
    client.force_login(shop["alice"])
    page = client.get(f"/resources/{group.pk}/")
    assert b'data-testid="scaling-panel"' in page.content
    assert b"CPU % above 70" in page.content  # the activity
    assert b"Add a policy" not in page.content  # a member does not edit
    assert client.get(f"/autoscaling/groups/{group.pk}/policies/new/").status_code == 403
    assert client.get(f"/autoscaling/groups/{group.pk}/panel/").status_code == 200

    client.force_login(shop["bob"])
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
