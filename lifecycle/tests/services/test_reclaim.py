"""Idle reclaim graded with a moving `now` (notify, stop, retire, delete), an empty wait, busy
servers and those without metrics left alone, activity closing the case, "keep", a
project's policy over its organization's, and policies for organization admins only."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from catalog.tests.saga import run_queued
from core.models import AuditEvent, Notification
from lifecycle.models import ReclaimCase, Saving
from lifecycle.services.reclaim import (
    idle_policy_save,
    reclaim_evaluate,
    resource_keep_remove,
    resource_keep_set,
)
from lifecycle.tests.helpers import (
    DAY,
    WAITS,
    completed,
    idle_policy,
    prices,
    server_of,
)
from provisioning.services.simulation import simulated_load_set

pytestmark = pytest.mark.django_db


def idle_server(shop, load="idle"):
    order = completed(shop)
    server = server_of(order)
    simulated_load_set(resource=server, load=load)
    return server


def test_an_idle_server_is_reclaimed_in_graded_steps(shop):
    idle_policy(shop, **WAITS)
    server = idle_server(shop)
    t0 = timezone.now() + timedelta(hours=1)  # the server has run through one window
    assert reclaim_evaluate(now=t0) == {"notified": 1}
    case = ReclaimCase.objects.get(resource=server)
    assert case.grade == "notified" and case.evidence["idle"]
    assert Notification.objects.filter(user=shop["alice"], subject__contains="idle").count() == 1
    assert reclaim_evaluate(now=t0 + timedelta(hours=1)) == {"waiting": 1}
    assert reclaim_evaluate(now=t0 + timedelta(hours=2)) == {"stopped": 1}
    run_queued()
    server.refresh_from_db()
    assert server.state == "stopped"
    assert Saving.objects.get(resource=server, action="stop").source == "reclaim"
    assert reclaim_evaluate(now=t0 + timedelta(hours=4)) == {"waiting": 1}
    assert reclaim_evaluate(now=t0 + timedelta(hours=5)) == {"retired": 1}
    assert reclaim_evaluate(now=t0 + timedelta(hours=9)) == {"deleted": 1}
    run_queued()
    server.refresh_from_db()
    case.refresh_from_db()
    assert server.state == "deleted" and case.closed_at is not None
    grades = AuditEvent.objects.filter(action="reclaim.graded").values_list("to_state", flat=True)
    assert list(grades) == ["notified", "stopped", "retired", "deleted"]
    # stopping saved the running price less the stopped price (its disk), deleting the rest
    saved = Saving.objects.filter(resource=server).values_list("hourly", flat=True)
    assert sum(saved) == prices(server).running
    assert reclaim_evaluate(now=t0 + timedelta(hours=10)) == {}


def test_an_empty_wait_stops_the_ladder_there(shop):
    idle_policy(shop, notify_after=timedelta(0), stop_after=None, retire_after=timedelta(0))
    server = idle_server(shop)
    t0 = timezone.now() + timedelta(hours=1)
    reclaim_evaluate(now=t0)
    reclaim_evaluate(now=t0 + 30 * DAY)
    assert ReclaimCase.objects.get(resource=server).grade == "notified"


def test_busy_servers_and_servers_without_metrics_are_left_alone(shop):
    idle_policy(shop, **WAITS)
    server = idle_server(shop, load="busy")
    assert reclaim_evaluate(now=timezone.now() + timedelta(hours=1)) == {"busy": 1}
    assert not ReclaimCase.objects.exists()
    # A provider reporting no metrics (the ec2 adapter): never reclaimed.
    server.external_id = ""
    server.save(update_fields=["external_id"])
    assert reclaim_evaluate(now=timezone.now() + timedelta(hours=1)) == {"busy": 1}


def test_activity_closes_the_case(shop):
    idle_policy(shop, **WAITS)
    server = idle_server(shop)
    t0 = timezone.now() + timedelta(hours=1)
    reclaim_evaluate(now=t0)
    simulated_load_set(resource=server, load=60)
    assert reclaim_evaluate(now=t0 + timedelta(hours=1)) == {"closed": 1}
    case = ReclaimCase.objects.get(resource=server)
    assert case.closed_at is not None and case.close_reason.startswith("active again")
    assert AuditEvent.objects.filter(action="reclaim.closed", target_id=case.pk).exists()


def test_keep_skips_the_server_until_removed(shop):
    idle_policy(shop, **WAITS)
    server = idle_server(shop)
    t0 = timezone.now() + timedelta(hours=1)
    reclaim_evaluate(now=t0)
    with pytest.raises(PermissionDenied):
        resource_keep_set(user=shop["dave"], resource_id=server.pk, reason="mine")
    resource_keep_set(user=shop["alice"], resource_id=server.pk, reason="shop on Friday")
    case = ReclaimCase.objects.get(resource=server)
    assert case.closed_at is not None and "shop on Friday" in case.close_reason
    assert reclaim_evaluate(now=t0 + 5 * DAY) == {"kept": 1}
    server.refresh_from_db()
    assert server.state == "active"
    resource_keep_remove(user=shop["alice"], resource_id=server.pk)
    assert reclaim_evaluate(now=t0 + 5 * DAY) == {"notified": 1}


def test_a_project_policy_beats_the_organizations(shop):
    idle_policy(shop, **WAITS)
    idle_policy_save(
        user=None,
        project=shop["web_shop"],
        fields={"name": "web-shop lenient", "cpu_below_percent": 1, "window": DAY},
    )
    idle_server(shop, load=3)  # idle for Acme (below 5 %), not for web-shop (below 1 %)
    assert reclaim_evaluate(now=timezone.now() + 2 * DAY) == {"busy": 1}


def test_policies_are_for_organization_admins(shop):
    with pytest.raises(PermissionDenied):
        idle_policy_save(
            user=shop["bob"],
            organization=shop["web_shop"].organization,
            fields={"name": "x", "window": DAY},
        )
